"""What happened at check-in, as the booking service keeps it, on the real broker and PostgreSQL
(the test plays the check-in service): an answered check-in in the booking's and the customer's
communication log, and a comment shared with mechanics on the technician's work list (C6)."""
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bookflow_contracts import CheckinAnswered, CommentSharedWithMechanics, SharedFile
from bookflow_devstack.testing import envelope, wait_until

STOCKHOLM = ZoneInfo("Europe/Stockholm")
DAY = datetime(2027, 5, 4, 9, 0, tzinfo=STOCKHOLM)


async def test_an_answered_check_in_appears_in_the_bookings_and_customers_communication_log(desk):
    office = await desk.tenant()
    booking = await desk.book(office)
    answered_at = datetime.now(UTC).replace(microsecond=0)
    await desk.kafka.publish_envelope(envelope(CheckinAnswered(
        booking_id=booking["id"], customer_id=booking["customer_id"], answered_at=answered_at, accepted_services=["wipers"],
        contact_requests=["tyres"], comments=2), office.id))

    async def logged():
        return await desk.get(office, f"/bookings/{booking['id']}/communication-log") or None

    [entry] = await wait_until(logged, what="the check-in in the log")
    assert (entry["kind"], datetime.fromisoformat(entry["at"])) == ("check-in", answered_at)
    assert entry["text"] == "the customer answered the check-in: accepted wipers; asked to be contacted about tyres; 2 comments"
    card = await desk.get(office, f"/customers/{booking['customer_id']}")
    assert [e["kind"] for e in card["communication_log"]] == ["check-in"]


async def test_a_comment_shared_with_mechanics_shows_on_the_work_list_with_links_to_its_files_until_hidden(desk, settings):
    office = await desk.tenant()
    technician = await desk.post(office, "/technicians", {"name": "Sven"}, status=201)
    booking = await desk.book(office, technician_id=technician["id"], starts_at=DAY.isoformat(),
                              ends_at=(DAY + timedelta(hours=1)).isoformat())
    photo = SharedFile(file_id=uuid.uuid4(), name="repa.jpg", content_type="image/jpeg", size=48_213)
    comment = CommentSharedWithMechanics(booking_id=booking["id"], comment_id=uuid.uuid4(), visible=True, subject="Repa på dörren",
                                         description="Vänster bakdörr, syns på bilden.", files=[photo])
    await desk.kafka.publish_envelope(envelope(comment, office.id))

    async def shared():
        [entry] = await desk.get(office, f"/technicians/{technician['id']}/work-list", day="2027-05-04")
        return entry["shared_comments"] or None

    [seen] = await wait_until(shared, what="the comment on the work list")
    assert (seen["subject"], seen["description"]) == ("Repa på dörren", "Vänster bakdörr, syns på bilden.")
    [file] = seen["files"]
    assert file["name"] == "repa.jpg"
    assert file["url"] == f"{settings.checkin_public_url}/tenants/{office.id}/files/{photo.file_id}"

    await desk.kafka.publish_envelope(envelope(comment.model_copy(update={"visible": False}), office.id))

    async def hidden():
        [entry] = await desk.get(office, f"/technicians/{technician['id']}/work-list", day="2027-05-04")
        return entry["shared_comments"] == []

    await wait_until(hidden, what="the comment hidden again")
