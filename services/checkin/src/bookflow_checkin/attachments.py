"""Where customers' photos and videos are kept: a local folder, or S3-compatible object storage
(AWS S3, MinIO, Ceph…). Bytes arrive in chunks and leave in chunks; nothing holds a whole video.

A file is written under a temporary name (a `.partial` file, or an S3 multipart upload) and only
becomes an object when it is complete, so an aborted or refused upload leaves nothing behind. An
object whose comment was never committed (a crash between the two) is swept away later by
`sweep_orphans`, once it is older than any upload in progress can be.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

_log = logging.getLogger(__name__)
CHUNK = 256 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,4}$")


_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def object_key(tenant_id: str, booking_id: uuid.UUID, file_id: uuid.UUID) -> str:
    """`<tenant>/<booking>/<file>`; a tenant id that is no safe path part is replaced by its hash."""
    tenant = tenant_id if _PART.match(tenant_id) else "t" + hashlib.sha256(tenant_id.encode()).hexdigest()[:32]
    key = f"{tenant}/{booking_id}/{file_id}"
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"not a safe storage key: {key!r}")
    return key


class Writer(Protocol):
    async def write(self, chunk: bytes) -> None: ...
    async def commit(self) -> None: ...
    async def abort(self) -> None: ...


class AttachmentStore(Protocol):
    """What the check-in service needs of a place for files."""

    async def writer(self, key: str) -> Writer: ...
    def read(self, key: str) -> AsyncIterator[bytes]: ...
    async def delete(self, key: str) -> None: ...
    async def exists(self, key: str) -> bool: ...
    async def keys_older_than(self, instant: datetime) -> list[str]:
        """Complete objects last written before `instant` (leftover partial writes are removed)."""
        ...


# --- a local folder -----------------------------------------------------------------------------


class LocalStore:
    """Files in a folder: `<root>/<tenant>/<booking>/<file id>`, written to `<root>/.partial` first
    and moved into place (an atomic rename) when complete."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"not a safe storage key: {key!r}")
        return self.root / key

    async def writer(self, key: str) -> Writer:
        final = self._path(key)
        partial_dir = self.root / ".partial"
        await asyncio.to_thread(partial_dir.mkdir, parents=True, exist_ok=True)
        partial = partial_dir / f"{uuid.uuid4()}"
        handle = await asyncio.to_thread(open, partial, "xb")
        return _LocalWriter(handle, partial, final)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self._path(key), "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._path(key).is_file)

    async def keys_older_than(self, instant: datetime) -> list[str]:
        return await asyncio.to_thread(self._old_keys, instant.timestamp())

    def _old_keys(self, before: float) -> list[str]:
        keys = []
        if not self.root.is_dir():
            return keys
        for folder, _, names in os.walk(self.root):
            for name in names:
                path = Path(folder) / name
                try:
                    old = path.stat().st_mtime < before
                except FileNotFoundError:
                    continue
                if not old:
                    continue
                relative = path.relative_to(self.root).as_posix()
                if relative.startswith(".partial/"):
                    path.unlink(missing_ok=True)  # a write that never finished
                else:
                    keys.append(relative)
        return keys


class _LocalWriter:
    def __init__(self, handle, partial: Path, final: Path) -> None:
        self.handle, self.partial, self.final = handle, partial, final

    async def write(self, chunk: bytes) -> None:
        await asyncio.to_thread(self.handle.write, chunk)

    async def commit(self) -> None:
        def finish() -> None:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            self.final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.partial, self.final)

        await asyncio.to_thread(finish)

    async def abort(self) -> None:
        def drop() -> None:
            self.handle.close()
            self.partial.unlink(missing_ok=True)

        await asyncio.to_thread(drop)


# --- S3-compatible object storage -------------------------------------------------------------


class S3Store:
    """Objects in a bucket under `prefix`, through boto3 (its calls run in threads). Files up to
    one part are one PUT; larger ones a multipart upload of 8 MiB parts, aborted if refused."""

    PART = 8 * 1024 * 1024  # S3 wants at least 5 MiB in every part but the last

    def __init__(self, bucket: str, *, prefix: str = "", endpoint_url: str | None = None, region: str = "us-east-1",
                 access_key_id: str | None = None, secret_access_key: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix = bucket, prefix
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )

    def _key(self, key: str) -> str:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"not a safe storage key: {key!r}")
        return f"{self.prefix}{key}"

    async def writer(self, key: str) -> Writer:
        return _S3Writer(self, self._key(key))

    async def read(self, key: str) -> AsyncIterator[bytes]:
        response = await asyncio.to_thread(self.client.get_object, Bucket=self.bucket, Key=self._key(key))
        body = response["Body"]
        try:
            while chunk := await asyncio.to_thread(body.read, CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.client.delete_object, Bucket=self.bucket, Key=self._key(key))

    async def exists(self, key: str) -> bool:
        found = await asyncio.to_thread(self.client.list_objects_v2, Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        return any(o["Key"] == self._key(key) for o in found.get("Contents", ()))

    async def keys_older_than(self, instant: datetime) -> list[str]:
        return await asyncio.to_thread(self._old_keys, instant)

    def _old_keys(self, instant: datetime) -> list[str]:
        uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=self.prefix)
        for upload in uploads.get("Uploads", ()):
            if upload["Initiated"] < instant:  # an upload that never finished
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        keys = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys += [o["Key"][len(self.prefix):] for o in page.get("Contents", ()) if o["LastModified"] < instant]
        return keys


class _S3Writer:
    def __init__(self, store: S3Store, key: str) -> None:
        self.store, self.key = store, key
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict] = []

    def _call(self, name: str, **kw) -> Awaitable:
        return asyncio.to_thread(getattr(self.store.client, name), Bucket=self.store.bucket, Key=self.key, **kw)

    async def write(self, chunk: bytes) -> None:
        self.buffer += chunk
        while len(self.buffer) >= self.store.PART:
            await self._send_part(bytes(self.buffer[:self.store.PART]))
            del self.buffer[:self.store.PART]

    async def _send_part(self, data: bytes) -> None:
        if self.upload_id is None:
            self.upload_id = (await self._call("create_multipart_upload"))["UploadId"]
        number = len(self.parts) + 1
        sent = await self._call("upload_part", UploadId=self.upload_id, PartNumber=number, Body=data)
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    async def commit(self) -> None:
        if self.upload_id is None:
            await self._call("put_object", Body=bytes(self.buffer))
        else:
            if self.buffer:
                await self._send_part(bytes(self.buffer))
            await self._call("complete_multipart_upload", UploadId=self.upload_id, MultipartUpload={"Parts": self.parts})
        self.buffer.clear()

    async def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id is not None:
            await self._call("abort_multipart_upload", UploadId=self.upload_id)


def store_from(settings) -> AttachmentStore:  # noqa: ANN001 (CheckinSettings; avoids an import cycle)
    if settings.attachment_store == "s3":
        if not settings.s3_bucket:
            raise ValueError("BOOKFLOW_CHECKIN_S3_BUCKET must name a bucket when the attachment store is s3")
        return S3Store(settings.s3_bucket, prefix=settings.s3_prefix, endpoint_url=settings.s3_endpoint_url,
                       region=settings.s3_region, access_key_id=settings.s3_access_key_id,
                       secret_access_key=settings.s3_secret_access_key)
    return LocalStore(settings.attachment_folder)


async def sweep_orphans(store: AttachmentStore, unknown: Callable[[list[str]], Awaitable[list[str]]], older_than: datetime) -> int:
    """Remove objects no file row refers to, written before `older_than`; returns how many."""
    keys = await store.keys_older_than(older_than)
    removed = 0
    for start in range(0, len(keys), 500):
        for key in await unknown(keys[start:start + 500]):
            await store.delete(key)
            removed += 1
    if removed:
        _log.warning("removed %d stored files no comment refers to (an upload that was never committed)", removed)
    return removed
