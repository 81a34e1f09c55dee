"""Who may do what in the staff API (X9): receptionists work with customers and bookings,
planners also run flow B and keep the catalog and the technicians, technicians see their work
list and the bookings on it and mark visits done; administrators change the tenant's settings."""
from bookflow_devstack.testing import staff_headers


async def test_a_receptionist_books_and_confirms_but_leaves_flow_b_and_the_technicians_to_planners(desk):
    office = await desk.tenant(flow="confirmation")
    receptionist = staff_headers(office.id, "receptionist")
    booking = await desk.book(office)
    confirmed = await desk.client.post(office.url(f"/bookings/{booking['id']}/transitions/confirm"), headers=receptionist,
                                       json={"reason": "said yes on the phone"})
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "confirmed"
    made = await desk.client.post(office.url("/bookings"), headers=receptionist, json={
        "customer": {"name": "Per Ek", "phone": "+46701234568"}, "service": "mätarbyte",
        "starts_at": booking["starts_at"], "estimate": "PT1H"})
    assert made.status_code == 201, made.text

    refused = {
        "lock": await desk.client.post(office.url("/orders/lock"), headers=receptionist, json={"booking_ids": [booking["id"]]}),
        "follow-up": await desk.client.post(office.url(f"/bookings/{made.json()['id']}/transitions/follow-up-manually"),
                                            headers=receptionist),
        "technician": await desk.client.post(office.url("/technicians"), headers=receptionist, json={"name": "Sven"}),
        "settings": await desk.client.put(office.url("/settings"), headers=receptionist, json={"name": "Pinea"}),
    }
    assert {what: r.status_code for what, r in refused.items()} == dict.fromkeys(refused, 403)
    assert (await desk.get(office, f"/bookings/{made.json()['id']}"))["state"] == "unconfirmed"


async def test_a_technician_opens_only_bookings_of_a_work_list_and_marks_the_visit_done(desk):
    office = await desk.tenant(flow="confirmation")
    technician = await desk.post(office, "/technicians", {"name": "Sven"}, status=201)
    confirmed = await desk.book(office, technician_id=technician["id"])
    await desk.post(office, f"/bookings/{confirmed['id']}/transitions/confirm", {"reason": "said yes on the phone"})
    unconfirmed = await desk.book(office, technician_id=technician["id"])
    sven = staff_headers(office.id, "technician", subject="sven")

    day = confirmed["starts_at"][:10]
    work = await desk.client.get(office.url(f"/technicians/{technician['id']}/work-list"), headers=sven, params={"day": day})
    assert work.status_code == 200 and [w["id"] for w in work.json()] == [confirmed["id"]]
    assert (await desk.client.get(office.url(f"/bookings/{confirmed['id']}"), headers=sven)).status_code == 200
    assert (await desk.client.get(office.url(f"/bookings/{unconfirmed['id']}"), headers=sven)).status_code == 404
    for refused in (await desk.client.get(office.url("/bookings"), headers=sven),
                    await desk.client.get(office.url("/customers"), headers=sven),
                    await desk.client.post(office.url(f"/bookings/{unconfirmed['id']}/transitions/cancel"), headers=sven)):
        assert refused.status_code == 403, refused.text

    done = await desk.client.post(office.url(f"/bookings/{confirmed['id']}/transitions/complete"), headers=sven)
    assert done.status_code == 200 and done.json()["state"] == "completed"
    assert (await desk.get(office, f"/bookings/{unconfirmed['id']}"))["state"] == "unconfirmed"


async def test_the_tenants_administrator_changes_its_settings_and_the_change_is_announced(desk):
    office = await desk.tenant(language="sv")
    planner = staff_headers(office.id, "planner")
    body = {"name": "Pinea Norr", "language": "nb", "time_zone": "Europe/Oslo", "reminder_before": "P2D"}
    assert (await desk.client.put(office.url("/settings"), headers=planner, json=body)).status_code == 403

    changed = await desk.client.put(office.url("/settings"), headers=office.headers, json=body)
    assert changed.status_code == 200, changed.text
    assert "staff_token" not in changed.json() or changed.json()["staff_token"] is None
    seen = await desk.get(office, "")
    assert (seen["name"], seen["language"], seen["time_zone"], seen["reminder_before"]) == ("Pinea Norr", "nb", "Europe/Oslo", "P2D")
    announced = await desk.published(office, "tenant.updated", "tenant.updated", where=lambda p: p.get("name") == "Pinea Norr")
    assert announced[-1]["language"] == "nb"

    elsewhere = await desk.client.put("/tenants/t-never-made/settings", headers=staff_headers("t-never-made", "administrator"),
                                      json=body)
    assert elsewhere.status_code == 404
