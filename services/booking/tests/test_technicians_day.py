"""The technician's day in the tenant's zone (A5, B8, B7), on the real broker and PostgreSQL: a
visit just after midnight is on its own local day, and a rescheduled order takes its place in the
technician's day, moving the orders after it down where they would collide."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OSLO = ZoneInfo("Europe/Oslo")


async def test_a_booking_at_half_past_midnight_in_stockholm_is_on_that_days_work_list_in_booking_order(desk):
    office = await desk.tenant(time_zone="Europe/Stockholm")
    technician = await desk.post(office, "/technicians", {"name": "Sven"}, status=201)
    night = datetime(2027, 2, 10, 0, 30, tzinfo=STOCKHOLM)  # 23:30 UTC on the 9th
    morning = datetime(2027, 2, 10, 8, 0, tzinfo=STOCKHOLM)
    late = await desk.book(office, technician_id=technician["id"], sequence=2, starts_at=night.isoformat(),
                           ends_at=(night + timedelta(hours=1)).isoformat())
    early = await desk.book(office, technician_id=technician["id"], sequence=1, starts_at=morning.isoformat(),
                            ends_at=(morning + timedelta(hours=1)).isoformat())
    work = await desk.get(office, f"/technicians/{technician['id']}/work-list", day="2027-02-10")
    assert [w["id"] for w in work] == [early["id"], late["id"]]  # one local day, in booking order
    assert await desk.get(office, f"/technicians/{technician['id']}/work-list", day="2027-02-09") == []
    assert [b["id"] for b in await desk.get(office, "/bookings", day="2027-02-10")] == [early["id"], late["id"]]


async def test_a_rescheduled_order_takes_its_place_in_the_technicians_day_and_the_orders_after_it_move_down(desk):
    office = await desk.tenant(flow="letter", time_zone="Europe/Oslo", language="nb")
    technician = await desk.post(office, "/technicians", {"name": "Ola"}, status=201)
    other = await desk.post(office, "/technicians", {"name": "Kari"}, status=201)
    day = datetime(2027, 3, 2, 8, 0, tzinfo=OSLO)

    async def order(tech: dict, sequence: int | None, hour: int, when: datetime = day) -> dict:
        start = when + timedelta(hours=hour)
        return await desk.book(office, technician_id=tech["id"], sequence=sequence, starts_at=start.isoformat(),
                               ends_at=(start + timedelta(hours=1)).isoformat())

    first, second, third, far = await order(technician, 1, 0), await order(technician, 2, 1), await order(technician, 3, 2), \
        await order(technician, 7, 6)
    moving = await order(other, 1, 0, day + timedelta(days=1))
    for o in (first, second, third, far, moving):
        await desk.post(office, "/orders/lock", {"booking_ids": [o["id"]]})
    await desk.post(office, "/orders/letters", {})
    for o in (first, second, third, far, moving):
        await desk.post(office, f"/bookings/{o['id']}/transitions/follow-up-manually")

    moved = await desk.post(office, f"/bookings/{moving['id']}/reschedule", {
        "starts_at": (day + timedelta(hours=1, minutes=30)).isoformat(), "estimate": "PT30M", "technician_id": technician["id"],
        "sequence": 2})
    assert (moved["technician_id"], moved["sequence"]) == (technician["id"], 2)
    sequences = {o["id"]: (await desk.get(office, f"/bookings/{o['id']}"))["sequence"] for o in (first, second, third, far)}
    assert sequences == {first["id"]: 1, second["id"]: 3, third["id"]: 4, far["id"]: 7}  # the gap before 7 took the shift

    kept = await desk.post(office, f"/bookings/{first['id']}/reschedule", {"starts_at": (day + timedelta(minutes=15)).isoformat(),
                                                                            "estimate": "PT1H"})
    assert (kept["technician_id"], kept["sequence"]) == (technician["id"], 1)  # same day, same technician: same place
    last = await desk.post(office, f"/bookings/{third['id']}/reschedule", {"starts_at": (day + timedelta(days=7)).isoformat(),
                                                                            "estimate": "PT1H", "technician_id": other["id"]})
    assert last["sequence"] is None  # a day the other technician has nothing ordered yet
