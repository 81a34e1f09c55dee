"""A comment's form, read from the request as it streams in: its text fields, and its files
written to the attachment store chunk by chunk. A file's type is told by its first bytes (magic
numbers, with `filetype`), never by its name or the browser's word; its size is counted as it
comes. A refused file is never stored: a wrong type is known before the first byte is written,
a file that grows too large is aborted (no object is made), and when any file is refused the
files already stored from the same form are deleted, so the comment is kept whole or not at all.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal

import filetype
from python_multipart.multipart import MultipartParser, parse_options_header

from bookflow_checkin.attachments import AttachmentStore, Writer

SNIFF_BYTES = 8192  # enough for every signature `filetype` knows (MP4/QuickTime brands come early)
MAX_FIELD_BYTES = 16 * 1024
MAX_FIELDS = 20

Reason = Literal["file-type", "file-too-large", "too-many-files", "form-too-large", "not-a-form"]


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_files: int
    accepted_types: frozenset[str]

    @property
    def max_form_bytes(self) -> int:
        """The most a whole form may carry: its files at their largest, and room for the text."""
        return self.max_files * self.max_file_bytes + MAX_FIELDS * MAX_FIELD_BYTES + 64 * 1024


@dataclass(frozen=True)
class StoredFile:
    file_id: uuid.UUID
    name: str
    content_type: str
    size: int
    storage_key: str


@dataclass(frozen=True)
class Refusal:
    reason: Reason
    name: str | None = None
    detected: str | None = None


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[StoredFile] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    file_parts: int = 0


class FormTooLarge(Exception):
    """The request carries more than any form may: reading stops."""


def boundary_of(content_type: str) -> bytes | None:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return options.get(b"boundary") or None


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


def clean_name(raw: bytes) -> str:
    """The file's name as the customer knows it: no folders, no control characters, at most 200."""
    name = raw.decode("utf-8", errors="replace").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("_", name).strip() or "file"
    return name[-200:]


class _Part:
    def __init__(self) -> None:
        self.headers: dict[bytes, bytes] = {}
        self._field, self._value = b"", b""
        self.name: str | None = None
        self.filename: bytes | None = None
        self.head = bytearray()
        self.size = 0
        self.writer: Writer | None = None
        self.file_id: uuid.UUID | None = None
        self.key: str | None = None
        self.content_type: str | None = None
        self.discard = False
        self.text = bytearray()


async def read_form(stream: AsyncIterator[bytes], content_type: str, store: AttachmentStore,
                    key_for: Callable[[uuid.UUID], str], limits: Limits) -> Form:
    """Read a multipart form from `stream`, storing its files. On any refusal the files stored
    from this form are deleted again and `form.files` is empty. Raises FormTooLarge when the
    request is larger than a form can be (after deleting what it stored)."""
    form = Form()
    boundary = boundary_of(content_type)
    if boundary is None:
        form.refusals.append(Refusal("not-a-form"))
        return form
    events: list[tuple] = []
    part: _Part | None = None

    def on(name: str) -> Callable:
        def record(data: bytes | None = None, start: int = 0, end: int = 0) -> None:
            events.append((name, None if data is None else bytes(data[start:end])))
        return record

    parser = MultipartParser(boundary, {
        "on_part_begin": on("begin"), "on_header_field": on("field"), "on_header_value": on("value"),
        "on_header_end": on("header_end"), "on_headers_finished": on("headers_done"), "on_part_data": on("data"),
        "on_part_end": on("end"),
    })
    received = 0
    try:
        async for chunk in stream:
            received += len(chunk)
            if received > limits.max_form_bytes:
                raise FormTooLarge()
            parser.write(chunk)
            for event, data in events:
                part = await _step(event, data, part, form, store, key_for, limits)
            events.clear()
        parser.finalize()
        for event, data in events:
            part = await _step(event, data, part, form, store, key_for, limits)
        if part is not None and part.writer is not None:  # the form ended inside a file
            await part.writer.abort()
            part.writer = None
    except BaseException:
        if part is not None and part.writer is not None:
            await part.writer.abort()
        await _forget(form, store)
        raise
    if form.refusals:
        await _forget(form, store)
    return form


async def _forget(form: Form, store: AttachmentStore) -> None:
    for stored in form.files:
        await store.delete(stored.storage_key)
    form.files.clear()


async def _step(event: str, data: bytes | None, part: _Part | None, form: Form, store: AttachmentStore,
                key_for: Callable[[uuid.UUID], str], limits: Limits) -> _Part | None:
    if event == "begin":
        return _Part()
    assert part is not None
    if event == "field":
        part._field += data or b""
    elif event == "value":
        part._value += data or b""
    elif event == "header_end":
        if len(part.headers) < 8:
            part.headers[part._field.strip().lower()] = part._value.strip()
        part._field, part._value = b"", b""
    elif event == "headers_done":
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        part.name = (options.get(b"name") or b"").decode("utf-8", errors="replace")
        part.filename = options.get(b"filename")
        if part.filename is not None and part.filename != b"":
            form.file_parts += 1
            if form.file_parts > limits.max_files:
                form.refusals.append(Refusal("too-many-files", clean_name(part.filename)))
                part.discard = True
        elif part.filename is None and len(form.fields) >= MAX_FIELDS:
            part.discard = True
    elif event == "data":
        await _data(part, data or b"", form, store, key_for, limits)
    elif event == "end":
        await _end(part, form, store, key_for, limits)
        return None
    return part


async def _data(part: _Part, data: bytes, form: Form, store: AttachmentStore, key_for: Callable[[uuid.UUID], str],
                limits: Limits) -> None:
    if part.discard:
        return
    if part.filename is None:  # a text field
        if len(part.text) + len(data) > MAX_FIELD_BYTES:
            part.discard = True
            form.refusals.append(Refusal("form-too-large", part.name))
            return
        part.text += data
        return
    if part.filename == b"":  # a file input left empty
        return
    part.size += len(data)
    if part.size > limits.max_file_bytes:
        if part.writer is not None:
            await part.writer.abort()
            part.writer = None
        part.discard = True
        form.refusals.append(Refusal("file-too-large", clean_name(part.filename)))
        return
    if part.writer is None:
        part.head += data
        if len(part.head) >= SNIFF_BYTES:
            await _open(part, form, store, key_for, limits)
        return
    await part.writer.write(data)


async def _open(part: _Part, form: Form, store: AttachmentStore, key_for: Callable[[uuid.UUID], str], limits: Limits) -> None:
    """Decide the type from the first bytes; start writing only an accepted one."""
    kind = filetype.guess(bytes(part.head[:SNIFF_BYTES]))
    detected = kind.mime if kind else None
    assert part.filename is not None
    if detected not in limits.accepted_types:
        part.discard = True
        form.refusals.append(Refusal("file-type", clean_name(part.filename), detected))
        return
    if form.refusals:  # the form is refused already: its other files are checked, not stored
        part.discard = True
        return
    part.content_type = detected
    part.file_id = uuid.uuid4()
    part.key = key_for(part.file_id)
    part.writer = await store.writer(part.key)
    await part.writer.write(bytes(part.head))
    part.head.clear()


async def _end(part: _Part, form: Form, store: AttachmentStore, key_for: Callable[[uuid.UUID], str], limits: Limits) -> None:
    if part.discard:
        return
    if part.filename is None:
        if part.name:
            form.fields[part.name] = part.text.decode("utf-8", errors="replace")
        return
    if part.filename == b"":
        return
    if part.writer is None:
        await _open(part, form, store, key_for, limits)  # a file smaller than the sniffing window
        if part.writer is None:
            return
    await part.writer.commit()
    part.writer = None
    assert part.file_id and part.key and part.content_type
    form.files.append(StoredFile(part.file_id, clean_name(part.filename), part.content_type, part.size, part.key))
