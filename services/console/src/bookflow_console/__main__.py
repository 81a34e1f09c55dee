"""`python -m bookflow_console`: serve the console (it has no database, so nothing to migrate)."""
import sys

import uvicorn

from bookflow_console.app import create_app
from bookflow_console.settings import ConsoleSettings


def main(argv: list[str]) -> None:
    if argv and argv != ["serve"]:
        sys.exit("usage: python -m bookflow_console [serve]")
    settings = ConsoleSettings()
    missing = settings.missing_secrets()
    if missing:
        sys.exit(f"bookflow_console: set {', '.join(missing)}")
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None, access_log=False)


if __name__ == "__main__":
    main(sys.argv[1:])
