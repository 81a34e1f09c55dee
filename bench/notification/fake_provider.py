"""A fake 46elks SMS API for the benchmark, as its own process (so it does not share the
service's core): `POST /a1/sms` answers like 46elks and notes when each message arrived;
`GET /arrivals` returns [[index, unix time], ...] for message texts holding `bench-<index>`;
`GET /count` how many arrived; `POST /reset` forgets them.

It is a bare asyncio protocol over httptools' parser (HTTP/1.1 with keep-alive), not an ASGI
app: on this machine the fake shares two cores with the service, the broker and PostgreSQL,
and every microsecond it spends is taken from what is being measured.

    python fake_provider.py PORT
"""
import asyncio
import json
import re
import sys
import time
import uuid
from urllib.parse import parse_qs

import httptools

ARRIVALS: list[tuple[int, float]] = []
_INDEX = re.compile(r"bench-(\d+)")


def answer(method: bytes, path: bytes, body: bytes) -> bytes:
    if method == b"POST" and path == b"/a1/sms":
        text = parse_qs(body.decode()).get("message", [""])[0]
        found = _INDEX.search(text)
        if found:
            ARRIVALS.append((int(found.group(1)), time.time()))
        return json.dumps({"id": f"s{uuid.uuid4().hex}", "status": "created"}).encode()
    if path == b"/reset":
        ARRIVALS.clear()
        return b"[]"
    return json.dumps(ARRIVALS if path == b"/arrivals" else len(ARRIVALS)).encode()


class Connection(asyncio.Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)
        self.url, self.body = b"", []

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        content = answer(self.parser.get_method(), httptools.parse_url(self.url).path, b"".join(self.body))
        self.url, self.body = b"", []
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(content), content)
        )
        if not self.parser.should_keep_alive():
            self.transport.close()


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
