"""C2's files: photos and videos of a comment stream to the attachment store — a local folder, or
S3-compatible storage (moto's S3 server, started here) — and every test runs against both. The
type is told by the bytes, not the name; a refused file is explained on the page and nothing of
its comment is kept: no object, no half-written upload, no row."""
from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from bookflow_checkin import MIGRATIONS, attachments
from bookflow_checkin.settings import CheckinSettings
from bookflow_devstack.infra import free_port
from bookflow_devstack.testing import staff_headers

MAX_FILE = 200 * 1024  # the limit the settings below give; conftest's `media` makes files around it


S3_KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url, **S3_KEYS).create_bucket(Bucket="checkin-files")
    yield url
    server.stop()


@pytest.fixture(scope="module", params=["local", "s3"])
def settings(request, make_database, kafka, attachment_folder, s3_server) -> CheckinSettings:
    extra = {}
    if request.param == "s3":
        extra = dict(attachment_store="s3", s3_bucket="checkin-files", s3_prefix="garage-files/", s3_endpoint_url=s3_server,
                     s3_access_key_id="testing", s3_secret_access_key="testing")
    return CheckinSettings(database_url=make_database("checkin", MIGRATIONS), kafka_bootstrap_servers=kafka.bootstrap_servers,
                           public_url="http://checkin.test", attachment_folder=attachment_folder, max_file_bytes=MAX_FILE,
                           max_files_per_comment=3, **extra)


def store_of(workshop) -> attachments.AttachmentStore:
    return workshop.client._transport.app.state.deps.store  # noqa: SLF001


async def kept_for(workshop, booking_id) -> list[str]:
    """Every object and every unfinished upload the store holds for the booking."""
    store = store_of(workshop)
    if isinstance(store, attachments.LocalStore):
        found = []
        for folder, _, names in os.walk(store.root):
            found += [os.path.join(folder, n) for n in names if str(booking_id) in os.path.join(folder, n) or ".partial" in folder]
        return found
    objects = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix).get("Contents", [])
    uploads = store.client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    return [o["Key"] for o in objects if str(booking_id) in o["Key"]] + [u["Key"] for u in uploads]


async def comment(workshop, link: str, files: list[tuple[str, bytes, str]], subject: str = "Rammelend geluid",
                  description: str = "Bij het remmen rammelt het links voor."):
    return await workshop.client.post(f"{link}/comments", data={"subject": subject, "description": description},
                                      files=[("files", f) for f in files])


async def test_a_comment_with_a_photo_and_a_video_is_stored_and_only_staff_of_the_garage_open_them(workshop, media):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    photo, video = media.jpeg(150_000), media.mp4()
    added = await comment(workshop, link, [("remschijf.jpg", photo, "image/jpeg"), ("geluid.bin", video, "application/octet-stream")])
    assert added.status_code == 303 and added.headers["location"].endswith("?done=comment#comment")
    page = (await workshop.client.get(f"{link}?done=comment")).text
    assert "Uw opmerking is toegevoegd." in page and "Rammelend geluid" in page and "remschijf.jpg" in page

    [kept] = (await workshop.appointment(garage, booking.booking_id))["comments"]
    assert (kept["subject"], kept["description"]) == ("Rammelend geluid", "Bij het remmen rammelt het links voor.")
    assert [(f["name"], f["content_type"], f["size"]) for f in kept["files"]] == [
        ("geluid.bin", "video/mp4", len(video)), ("remschijf.jpg", "image/jpeg", len(photo))]
    assert len(await kept_for(workshop, booking.booking_id)) == 2
    file_url = next(f["url"] for f in kept["files"] if f["name"] == "remschijf.jpg")
    assert file_url.startswith(f"http://checkin.test/tenants/{garage.id}/files/")
    path = file_url.removeprefix("http://checkin.test")

    opened = await workshop.client.get(path, headers=garage.desk)
    assert opened.status_code == 200 and opened.content == photo and opened.headers["content-type"] == "image/jpeg"
    assert opened.headers["x-content-type-options"] == "nosniff"
    assert (await workshop.client.get(path)).status_code == 401
    other = staff_headers("another-garage", "administrator")
    assert (await workshop.client.get(path.replace(garage.id, "another-garage"), headers=other)).status_code == 404
    assert (await workshop.client.get(f"/tenants/{garage.id}/files/{uuid.uuid4()}", headers=garage.desk)).status_code == 404
    mechanic = staff_headers(garage.id, "technician", subject="piet")
    assert (await workshop.client.get(path, headers=mechanic)).status_code == 404  # not shared with mechanics yet


@pytest.mark.parametrize("name, content", [
    ("foto.jpg", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"0" * 5000),
    ("foto.png", b"MZ\x90\x00\x03" + b"\x00" * 3000),  # a Windows program
    ("leeg.jpg", b""),
    ("klein.heic", b"just some text, short"),
])
async def test_a_file_that_is_no_photo_or_video_by_its_bytes_is_refused_and_nothing_of_the_comment_is_kept(workshop, media, name, content):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    refused = await comment(workshop, link, [("goed.jpg", media.jpeg(), "image/jpeg"), (name, content, "image/jpeg")])
    assert refused.status_code == 422
    assert f"‘{name}’ is geen foto of video die we kunnen ontvangen" in refused.text
    assert "Uw opmerking is niet toegevoegd vanwege de bestanden hieronder." in refused.text
    assert 'value="Rammelend geluid"' in refused.text and "Bij het remmen rammelt het links voor." in refused.text
    assert (await workshop.appointment(garage, booking.booking_id))["comments"] == []
    assert await kept_for(workshop, booking.booking_id) == []


async def test_a_file_over_the_size_limit_is_refused_and_nothing_is_kept(workshop, media):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    refused = await comment(workshop, link, [("groot.jpg", media.jpeg(MAX_FILE + 50_000), "image/jpeg"), ("klein.jpg", media.jpeg(), "image/jpeg")])
    assert refused.status_code == 422 and "‘groot.jpg’ is groter dan 200 kB." in refused.text
    assert (await workshop.appointment(garage, booking.booking_id))["comments"] == []
    assert await kept_for(workshop, booking.booking_id) == []

    too_many = await comment(workshop, link, [(f"{n}.jpg", media.jpeg(), "image/jpeg") for n in range(4)])
    assert too_many.status_code == 422 and "‘3.jpg’ is één bestand te veel: maximaal 3 bestanden per opmerking." in too_many.text
    assert await kept_for(workshop, booking.booking_id) == []

    huge = await workshop.client.post(f"{link}/comments", content=b"x", headers={
        "content-type": "multipart/form-data; boundary=abc", "content-length": str(10 * MAX_FILE)})
    assert huge.status_code == 413 and "De bestanden zijn samen te groot." in huge.text


async def test_a_comment_without_a_subject_keeps_nothing_and_a_comment_without_files_is_fine(workshop, media):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    refused = await comment(workshop, link, [("foto.jpg", media.jpeg(), "image/jpeg")], subject="  ")
    assert refused.status_code == 422 and "Geef uw opmerking een onderwerp." in refused.text
    assert await kept_for(workshop, booking.booking_id) == []
    plain = await workshop.client.post(f"{link}/comments", data={"subject": "Bandenspanning", "description": ""},
                                       files=[("files", ("", b"", "application/octet-stream"))])
    assert plain.status_code == 303
    [kept] = (await workshop.appointment(garage, booking.booking_id))["comments"]
    assert (kept["subject"], kept["files"]) == ("Bandenspanning", [])


async def test_objects_no_comment_refers_to_are_swept_once_old_and_the_others_stay(workshop, media):
    garage = await workshop.garage()
    booking = await workshop.book(garage)
    link = await workshop.checkin_link(garage, booking)
    assert (await comment(workshop, link, [("foto.jpg", media.jpeg(), "image/jpeg")])).status_code == 303
    store = store_of(workshop)
    orphan = attachments.object_key(garage.id, booking.booking_id, uuid.uuid4())  # a crash between storing and committing
    writer = await store.writer(orphan)
    await writer.write(b"left behind")
    await writer.commit()
    if isinstance(store, attachments.LocalStore):
        old = time.time() - 7200
        os.utime(store.root / orphan, (old, old))
    runtime = workshop.client._transport.app.state.runtime  # noqa: SLF001

    async def unknown(keys):
        from bookflow_checkin import storage

        async with runtime.db.transaction() as session:
            return await storage.unknown_keys(session, keys)

    horizon = datetime.now(UTC) - timedelta(hours=1) if isinstance(store, attachments.LocalStore) else datetime.now(UTC) + timedelta(minutes=1)
    assert await attachments.sweep_orphans(store, unknown, horizon) >= 1
    assert not await store.exists(orphan)
    [kept] = (await workshop.appointment(garage, booking.booking_id))["comments"]
    assert await store.exists(next(iter(_keys_of(kept, garage.id, booking.booking_id))))


def _keys_of(comment_view, tenant_id, booking_id):
    return [attachments.object_key(tenant_id, booking_id, uuid.UUID(f["file_id"])) for f in comment_view["files"]]


async def test_a_large_video_goes_up_in_parts_and_an_aborted_one_leaves_nothing(s3_server):
    store = attachments.S3Store("checkin-files", prefix="parts/", endpoint_url=s3_server, access_key_id="testing",
                                secret_access_key="testing")
    video = os.urandom(store.PART + 1_000_000)
    writer = await store.writer("garage/big/video")
    for start in range(0, len(video), 256 * 1024):
        await writer.write(video[start:start + 256 * 1024])
    await writer.commit()
    assert b"".join([chunk async for chunk in store.read("garage/big/video")]) == video

    aborted = await store.writer("garage/big/aborted")
    await aborted.write(video)
    await aborted.abort()
    assert not await store.exists("garage/big/aborted")
    assert store.client.list_multipart_uploads(Bucket="checkin-files", Prefix="parts/").get("Uploads", []) == []
