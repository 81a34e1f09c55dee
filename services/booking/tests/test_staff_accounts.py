"""Staff accounts (issue 13): an operator makes a tenant's first administrator, who invites staff
with a one-time link; people log in with e-mail and password and are locked out after repeated
failures; administrators reset passwords and remove people, whose sessions end at once."""
from __future__ import annotations

import jwt
import pytest

from bookflow_devstack.testing import OPERATOR, staff_headers
from bookflow_runtime import development


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def first_administrator(desk, office, email="anna@pinea.se", password="ett långt lösenord") -> dict:
    made = await desk.client.post(f"/operator/tenants/{office.id}/administrators", headers=OPERATOR,
                                  json={"email": email.upper(), "name": "Anna Admin", "language": "sv"})
    assert made.status_code == 201, made.text
    token = made.json()["link"]["token"]
    set_password = await desk.client.post(f"/staff-login/{office.id}/links/password", json={"token": token, "password": password})
    assert set_password.status_code == 200, set_password.text
    return await log_in(desk, office, email, password)


async def log_in(desk, office, email, password, status=201) -> dict:
    response = await desk.client.post(f"/staff-login/{office.id}/sessions", json={"email": email, "password": password})
    assert response.status_code == status, response.text
    return response.json()


async def test_an_operator_makes_the_first_administrator_who_logs_in_with_a_short_lived_token(desk):
    office = await desk.tenant()
    refused = await desk.client.post(f"/operator/tenants/{office.id}/administrators", headers=office.headers,
                                     json={"email": "x@pinea.se", "name": "X"})
    assert refused.status_code == 401  # a staff token is not the operator's
    admin = await first_administrator(desk, office)
    claims = jwt.decode(admin["token"], development.STAFF_TOKEN_PUBLIC_KEY, algorithms=["EdDSA"])
    assert (claims["tenant"], claims["roles"], claims["name"]) == (office.id, ["administrator"], "Anna Admin")
    assert claims["exp"] - claims["iat"] == 15 * 60
    me = await desk.client.get(office.url("/staff/me"), headers=bearer(admin["token"]))
    assert (me.json()["email"], me.json()["language"], me.json()["status"]) == ("anna@pinea.se", "sv", "active")
    bookings = await desk.client.get(office.url("/bookings"), headers=bearer(admin["token"]))
    assert bookings.status_code == 200


async def test_an_invited_planner_sets_a_password_once_and_the_link_cannot_be_used_again(desk):
    office = await desk.tenant()
    admin = await first_administrator(desk, office)
    invited = await desk.client.post(office.url("/staff/invitations"), headers=bearer(admin["token"]),
                                     json={"email": "per@pinea.se", "name": "Per Planerare", "roles": ["planner"]})
    assert invited.status_code == 201, invited.text
    assert invited.json()["staff"]["status"] == "invited"
    token = invited.json()["link"]["token"]
    read = await desk.client.post(f"/staff-login/{office.id}/links/read", json={"token": token})
    assert (read.json()["name"], read.json()["purpose"]) == ("Per Planerare", "invitation")
    short = await desk.client.post(f"/staff-login/{office.id}/links/password", json={"token": token, "password": "kort"})
    assert short.status_code == 422
    done = await desk.client.post(f"/staff-login/{office.id}/links/password", json={"token": token, "password": "tio tecken minst"})
    assert done.status_code == 200
    again = await desk.client.post(f"/staff-login/{office.id}/links/password", json={"token": token, "password": "ett annat lösenord"})
    assert (again.status_code, again.json()["code"]) == (404, "link-not-valid")
    planner = await log_in(desk, office, "per@pinea.se", "tio tecken minst")
    assert planner["staff"]["roles"] == ["planner"]
    not_admin = await desk.client.get(office.url("/staff"), headers=bearer(planner["token"]))
    assert not_admin.status_code == 403


async def test_five_wrong_passwords_lock_the_account_for_fifteen_minutes_whoever_asks(desk):
    office = await desk.tenant()
    await first_administrator(desk, office)
    for _ in range(5):
        wrong = await log_in(desk, office, "anna@pinea.se", "fel lösenord", status=401)
        assert wrong["code"] == "wrong-login" and "lösenord" not in str(wrong)
    locked = await desk.client.post(f"/staff-login/{office.id}/sessions", json={"email": "anna@pinea.se", "password": "ett långt lösenord"})
    assert locked.status_code == 429
    assert 14 * 60 < int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    # an e-mail without an account is locked the same way: the lockout tells nothing of who has one
    for _ in range(5):
        await log_in(desk, office, "nobody@pinea.se", "whatever", status=401)
    assert (await desk.client.post(f"/staff-login/{office.id}/sessions", json={"email": "nobody@pinea.se", "password": "x"})).status_code == 429


async def test_a_removed_person_cannot_log_in_or_renew_and_a_reset_ends_the_old_password(desk):
    office = await desk.tenant()
    admin = await first_administrator(desk, office)
    invited = (await desk.client.post(office.url("/staff/invitations"), headers=bearer(admin["token"]),
                                      json={"email": "tor@pinea.se", "name": "Tor Tekniker", "roles": ["technician"]})).json()
    await desk.client.post(f"/staff-login/{office.id}/links/password", json={"token": invited["link"]["token"], "password": "skruvmejsel99"})
    tor = await log_in(desk, office, "tor@pinea.se", "skruvmejsel99")
    renewed = await desk.client.post(f"/staff-login/{office.id}/sessions/renew", json={"session": tor["session"]})
    assert renewed.status_code == 200 and renewed.json()["token"]

    reset = await desk.client.post(office.url("/staff/resets"), headers=bearer(admin["token"]), json={"staff_id": tor["staff"]["id"]})
    assert reset.status_code == 200
    await log_in(desk, office, "tor@pinea.se", "skruvmejsel99", status=401)
    assert (await desk.client.post(f"/staff-login/{office.id}/sessions/renew", json={"session": tor["session"]})).status_code == 404
    await desk.client.post(f"/staff-login/{office.id}/links/password", json={"token": reset.json()["token"], "password": "skiftnyckel77"})
    tor = await log_in(desk, office, "tor@pinea.se", "skiftnyckel77")

    removed = await desk.client.post(office.url("/staff/removals"), headers=bearer(admin["token"]), json={"staff_id": tor["staff"]["id"]})
    assert removed.status_code == 204
    assert (await desk.client.post(f"/staff-login/{office.id}/sessions/renew", json={"session": tor["session"]})).status_code == 404
    await log_in(desk, office, "tor@pinea.se", "skiftnyckel77", status=401)
    myself = await desk.client.post(office.url("/staff/removals"), headers=bearer(admin["token"]), json={"staff_id": admin["staff"]["id"]})
    assert myself.status_code == 409


async def test_logging_out_ends_the_session(desk):
    office = await desk.tenant()
    admin = await first_administrator(desk, office)
    assert (await desk.client.post(f"/staff-login/{office.id}/sessions/end", json={"session": admin["session"]})).status_code == 204
    assert (await desk.client.post(f"/staff-login/{office.id}/sessions/renew", json={"session": admin["session"]})).status_code == 404


@pytest.mark.parametrize("path", ["/staff", "/staff/me"])
async def test_account_routes_answer_not_found_to_another_tenants_staff(desk, path):
    office = await desk.tenant()
    response = await desk.client.get(office.url(path), headers=staff_headers("someone-else", "administrator"))
    assert response.status_code == 404
