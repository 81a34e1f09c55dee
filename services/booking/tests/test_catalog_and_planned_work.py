"""The tenant's service catalog and what a booking carries about its work, on the real broker and
PostgreSQL: the catalog published whole on every change, work lines filled from it, the subject,
the extra information on the notice, and where a booking came from."""
from decimal import Decimal

from bookflow_contracts import topics
from bookflow_devstack.testing import staff_headers

OIL = {"name": "Oljebyte", "duration_minutes": 45, "price_incl_vat": "1495.00", "vat_rate": "0.25",
       "article_numbers": ["A-100", "A-101"], "description": "Olja och filter", "link": "https://verkstad.example/olja",
       "offered_at_checkin": True, "bookable_online": True}


def catalogs(desk, office, count: int):
    return desk.published(office, topics.TENANT_UPDATED, "catalog.updated", count=count)


async def test_every_change_of_the_catalog_publishes_the_whole_catalog(desk):
    office = await desk.tenant()
    response = await desk.client.put(office.url("/catalog/oil-change"), json=OIL, headers=office.headers)
    assert response.status_code == 200, response.text
    assert response.json()["price_incl_vat"] == "1495.00"
    wipers = {"name": "Torkarblad", "duration_minutes": 10, "price_incl_vat": "299.00", "vat_rate": "0.25"}
    await desk.client.put(office.url("/catalog/wipers"), json=wipers, headers=staff_headers(office.id, "planner"))
    await desk.client.put(office.url("/catalog/oil-change"), json={**OIL, "price_incl_vat": "1595.00"}, headers=office.headers)
    deleted = await desk.client.delete(office.url("/catalog/wipers"), headers=office.headers)
    assert deleted.status_code == 204

    first, second, third, fourth = await catalogs(desk, office, 4)
    assert [s["service"] for s in first["services"]] == ["oil-change"]
    assert [s["service"] for s in second["services"]] == ["oil-change", "wipers"]
    assert [Decimal(s["price_incl_vat"]) for s in third["services"]] == [Decimal("1595.00"), Decimal("299.00")]
    assert [s["service"] for s in fourth["services"]] == ["oil-change"] and fourth["tenant_id"] == office.id
    oil = first["services"][0]
    assert (oil["name"], oil["duration_minutes"], oil["link"], Decimal(oil["vat_rate"])) == ("Oljebyte", 45, OIL["link"], Decimal("0.25"))
    [listed] = await desk.get(office, "/catalog")
    assert (listed["service"], listed["article_numbers"], listed["offered_at_checkin"]) == ("oil-change", ["A-100", "A-101"], True)


async def test_only_administrators_and_planners_change_the_catalog_and_bad_entries_are_refused(desk):
    office = await desk.tenant()
    receptionist = staff_headers(office.id, "receptionist")
    assert (await desk.client.put(office.url("/catalog/oil-change"), json=OIL, headers=receptionist)).status_code == 403
    for bad in ({**OIL, "duration_minutes": 0}, {**OIL, "vat_rate": "25"}, {**OIL, "link": "javascript:alert(1)"},
                {**OIL, "price_incl_vat": "-1"}, {k: v for k, v in OIL.items() if k != "name"}):
        response = await desk.client.put(office.url("/catalog/oil-change"), json=bad, headers=office.headers)
        assert response.status_code == 422, bad
    assert (await desk.client.put(office.url("/catalog/no%20spaces"), json=OIL, headers=office.headers)).status_code == 422
    assert (await desk.client.delete(office.url("/catalog/never-there"), headers=office.headers)).status_code == 404
    assert await desk.get(office, "/catalog") == []
    assert await desk.get(office, "/catalog") == (await desk.client.get(office.url("/catalog"), headers=receptionist)).json()


async def test_a_booking_carries_its_work_lines_subject_and_extra_information_to_booking_created_and_the_notice(desk):
    office = await desk.tenant(flow="confirmation")
    await desk.client.put(office.url("/catalog/oil-change"), json=OIL, headers=office.headers)
    booking = await desk.book(
        office, service="oil-change",
        work_lines=[{"service": "oil-change", "remark": "Kunden har egen olja"},
                    {"service": "washer-fluid", "description": "Spolarvätska", "price_incl_vat": "89.00", "vat_rate": "0.25"}],
        subject={"kind": "vehicle", "details": {"registration": "ABC 123", "make": "Volvo", "model": "V70"}},
        extra_info="Lämna nyckeln i receptionen.")
    oil, fluid = booking["work_lines"]
    assert (oil["description"], oil["price_incl_vat"], oil["article_number"]) == ("Oljebyte", "1495.00", "A-100")  # from the catalog
    assert (fluid["description"], fluid["price_incl_vat"], fluid["article_number"]) == ("Spolarvätska", "89.00", None)
    assert booking["subject"]["details"]["registration"] == "ABC 123" and booking["source"] == "staff"

    [created] = await desk.published(office, topics.BOOKING_CREATED, "booking.created", booking_id=booking["id"])
    assert [w["line_id"] for w in created["work_lines"]] == [oil["line_id"], fluid["line_id"]]
    assert created["subject"]["kind"] == "vehicle" and created["extra_info"] == "Lämna nyckeln i receptionen."
    assert (created["source"], created["source_ref"], created["booking_version"]) == ("staff", None, 0)
    assert created["customer"]["customer_id"] == booking["customer_id"]
    [notice] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking["id"])
    assert notice["data"]["extra_info"] == "Lämna nyckeln i receptionen." and notice["data"]["needs_confirmation"] is True


async def test_a_booking_in_a_tenant_without_the_confirmation_flow_is_not_asked_to_confirm_or_rebook(desk):
    office = await desk.tenant(flow="none")
    booking = await desk.book(office)
    [notice] = await desk.published(office, topics.NOTIFICATION_REQUESTS, "notification.send", booking_id=booking["id"])
    assert notice["template_key"] == "booking-notice" and notice["data"]["needs_confirmation"] is False


async def test_staff_correct_the_planned_work_subject_and_extra_information(desk):
    office = await desk.tenant()
    booking = await desk.book(office, extra_info="Ring på porttelefonen.")
    response = await desk.client.patch(office.url(f"/bookings/{booking['id']}"), headers=office.headers, json={
        "work_lines": [{"service": "mätarbyte", "price_incl_vat": "0.00"}], "subject": {"kind": "meter", "details": {"number": "73-1"}},
        "extra_info": None})
    assert response.status_code == 200, response.text
    edited = response.json()
    assert [w["service"] for w in edited["work_lines"]] == ["mätarbyte"] and edited["extra_info"] is None
    assert edited["subject"] == {"kind": "meter", "details": {"number": "73-1"}}
    too_many = await desk.client.patch(office.url(f"/bookings/{booking['id']}"), headers=office.headers,
                                       json={"work_lines": [{"service": "x"}] * 101})
    assert too_many.status_code == 422
