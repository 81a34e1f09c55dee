"""A fake 46elks SMS API for the benchmark, as its own process (so it does not share the
service's core): `POST /a1/sms` answers like 46elks and notes when each message arrived;
`GET /arrivals` returns [[index, unix time], ...] for message texts holding `bench-<index>`.

    python fake_provider.py PORT
"""
import json
import re
import sys
import time
import uuid
from urllib.parse import parse_qs

import uvicorn

ARRIVALS: list[tuple[int, float]] = []
_INDEX = re.compile(r"bench-(\d+)")


async def app(scope, receive, send):  # noqa: ANN001 (a bare ASGI app: the floor must not be the fake)
    if scope["type"] != "http":
        return
    body = b""
    while True:
        event = await receive()
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    if scope["method"] == "POST":
        arrived = time.time()
        text = parse_qs(body.decode()).get("message", [""])[0]
        found = _INDEX.search(text)
        if found:
            ARRIVALS.append((int(found.group(1)), arrived))
        answer = json.dumps({"id": f"s{uuid.uuid4().hex}", "status": "created"}).encode()
    elif scope["path"] == "/reset":
        ARRIVALS.clear()
        answer = b"[]"
    else:
        answer = json.dumps(ARRIVALS if scope["path"] == "/arrivals" else len(ARRIVALS)).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": answer})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False, http="httptools")
