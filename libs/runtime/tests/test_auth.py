"""Staff tokens and customer links."""
import pytest

from bookflow_runtime.auth import LinkInvalid, Unauthorized, issue_staff_token, read_link, read_staff_token, sign_link

SECRET = "a-test-secret-thirty-two-bytes-long"


def test_a_staff_token_names_its_tenant_and_roles_and_is_refused_when_forged_or_expired():
    token = issue_staff_token(SECRET, "acme", "planner-1", ("planner",))
    staff = read_staff_token(SECRET, token)
    assert (staff.tenant_id, staff.subject, staff.roles) == ("acme", "planner-1", ("planner",))
    with pytest.raises(Unauthorized, match="not valid"):
        read_staff_token("another-secret-of-thirty-two-bytes!!", token)
    with pytest.raises(Unauthorized, match="expired"):
        read_staff_token(SECRET, issue_staff_token(SECRET, "acme", "p", ttl_seconds=-10))


def test_a_customer_link_opens_only_what_it_was_signed_for_and_only_until_it_expires():
    token = sign_link(SECRET, "my-pages", {"booking": "b-1"})
    assert read_link(SECRET, "my-pages", token, max_age_seconds=60) == {"booking": "b-1"}
    with pytest.raises(LinkInvalid, match="not valid"):
        read_link(SECRET, "checkin", token, max_age_seconds=60)
    with pytest.raises(LinkInvalid, match="not valid"):
        read_link(SECRET, "my-pages", token[:-2] + "xx", max_age_seconds=60)
    with pytest.raises(LinkInvalid, match="expired"):
        read_link(SECRET, "my-pages", token, max_age_seconds=-1)
