"""JSON Schema for the envelope and every message: `python -m bookflow_contracts.schemas DIR`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bookflow_contracts.envelope import Envelope, message_types


def all_schemas() -> dict[str, dict]:
    """Schema of the envelope and of each message type's payload, by name."""
    schemas = {"envelope": Envelope.model_json_schema()}
    for name, model in sorted(message_types().items()):
        schema = model.model_json_schema()
        schema["x-topic"] = model.topic
        schema["x-version"] = model.version
        schemas[name] = schema
    return schemas


def write(directory: Path) -> list[Path]:
    """Write one `<type>.v<version>.json` file per schema into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in all_schemas().items():
        path = directory / f"{name}.v{schema.get('x-version', 1)}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(path)
