"""Each service's AsyncAPI 3 document, built from the contracts: every topic it publishes and
consumes, every message's payload schema (the envelope with the message's own fields in
`payload`), the Kafka headers, and where the correlation id is."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from bookflow_contracts import Envelope, Message, topics

_REF = "#/components/schemas/{model}"
_HEADERS = {
    "type": "object",
    "properties": {
        "event-type": {"type": "string", "description": "The message type, as in the envelope's `type`."},
        "event-id": {"type": "string", "format": "uuid", "description": "The envelope's `event_id`."},
        "tenant-id": {"type": "string", "description": "The tenant the message belongs to."},
        "correlation-id": {"type": "string", "description": "Shared by every message caused by one outside request."},
        "content-type": {"type": "string", "const": "application/json"},
    },
}
_DEAD_LETTER_HEADERS = {
    "type": "object",
    "properties": {
        name: {"type": "string", "description": text}
        for name, text in (
            ("dead-letter-reason", "Why: `undecodable`, `invalid`, `handler-failed`, `unknown-tenant`…, and the detail."),
            ("dead-letter-consumer", "The consumer that gave up: `<service>.<consumer>`."),
            ("original-topic", "Where the record was read."),
            ("original-partition", "Its partition."),
            ("original-offset", "Its offset."),
            ("dead-lettered-at", "When (ISO 8601)."),
            ("original-size", "The original value's size when it was trimmed."),
            ("original-sha256", "The original value's SHA-256 when it was trimmed."),
        )
    },
}


def document(*, service: str, title: str, description: str, bootstrap_servers: str,
             consumes: Iterable[type[Message]], publishes: Iterable[type[Message]]) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of one service."""
    consumed, published = sorted(set(consumes), key=_name), sorted(set(publishes), key=_name)
    models: list[type[BaseModel]] = [Envelope, *consumed, *published]
    _, schemas = models_json_schema([(m, "validation") for m in dict.fromkeys(models)], ref_template=_REF)
    components_schemas = dict(schemas.get("$defs", {}))
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for direction, kinds in (("receive", consumed), ("send", published)):
        for topic in sorted({m.topic for m in kinds}):
            channel = _channel_id(topic)
            channels.setdefault(channel, {"address": topic, "messages": {}, "description": _topic_doc(topic)})
            names = []
            for model in (m for m in kinds if m.topic == topic):
                name = _message_id(model)
                messages[name] = _message(model)
                channels[channel]["messages"][name] = {"$ref": f"#/components/messages/{name}"}
                names.append(name)
            operations[f"{direction}-{channel}"] = {
                "action": direction,
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{n}"} for n in names],
                "summary": ("Consumed by " if direction == "receive" else "Published by ") + service,
            }
    dead = _channel_id(topics.DEAD_LETTER)
    channels[dead] = {"address": topics.DEAD_LETTER, "description": _topic_doc(topics.DEAD_LETTER),
                      "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}}}
    messages["DeadLetter"] = {
        "name": "DeadLetter", "title": "A record that could not be handled",
        "summary": "The original key and bytes (trimmed beyond 64 KiB); the reason and origin in headers.",
        "contentType": "application/octet-stream", "payload": {"description": "The original record's bytes."},
        "headers": _DEAD_LETTER_HEADERS,
    }
    operations[f"send-{dead}"] = {"action": "send", "channel": {"$ref": f"#/channels/{dead}"},
                                  "messages": [{"$ref": f"#/channels/{dead}/messages/DeadLetter"}],
                                  "summary": f"Published by {service} for what it cannot handle"}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": title, "version": "1.0.0", "description": description},
        "defaultContentType": "application/json",
        "servers": {"kafka": {"host": bootstrap_servers.split(",")[0], "protocol": "kafka",
                              "description": "The Kafka cluster (KAFKA_BOOTSTRAP_SERVERS)."}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": components_schemas},
    }


def _name(model: type[Message]) -> str:
    return model.message_type


def _channel_id(topic: str) -> str:
    return topic.replace(".", "-")


def _message_id(model: type[Message]) -> str:
    return model.__name__


def _topic_doc(topic: str) -> str:
    for name, value in vars(topics).items():
        if value == topic and name.isupper():
            return f"Topic `{topic}`. Published by {', '.join(topics.PUBLISHED_BY.get(topic, ())) or 'nobody'}; " \
                   f"consumed by {', '.join(topics.CONSUMED_BY.get(topic, ())) or 'operators'}."
    return topic


def _message(model: type[Message]) -> dict[str, Any]:
    """The message on the wire: the envelope, with this message's schema as its payload."""
    envelope = {
        "allOf": [
            {"$ref": _REF.format(model="Envelope")},
            {"type": "object", "properties": {
                "type": {"const": model.message_type},
                "version": {"type": "integer", "minimum": 1, "description": f"This schema is version {model.version}."},
                "payload": {"$ref": _REF.format(model=model.__name__)},
            }},
        ],
    }
    return {
        "name": model.message_type,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().split("\n")[0],
        "contentType": "application/json",
        "payload": envelope,
        "headers": _HEADERS,
        "correlationId": {"location": "$message.header#/correlation-id", "description": "The conversation the message belongs to."},
    }
