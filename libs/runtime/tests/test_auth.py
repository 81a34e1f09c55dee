"""Staff tokens (signed by the booking service's private key, verified with the public key) and
customer links."""
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bookflow_runtime import development
from bookflow_runtime.auth import Forbidden, LinkInvalid, Staff, Unauthorized, issue_staff_token, read_link, read_staff_token, sign_link

SECRET = "a-test-secret-thirty-two-bytes-long"
PRIVATE, PUBLIC = development.STAFF_TOKEN_PRIVATE_KEY, development.STAFF_TOKEN_PUBLIC_KEY


def another_private_key() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def test_a_staff_token_names_its_tenant_and_roles_and_is_refused_when_forged_or_expired():
    token = issue_staff_token(PRIVATE, "acme", "planner-1", ("planner",))
    staff = read_staff_token(PUBLIC, token)
    assert (staff.tenant_id, staff.subject, staff.roles) == ("acme", "planner-1", ("planner",))
    with pytest.raises(Unauthorized, match="not valid"):
        read_staff_token(PUBLIC, issue_staff_token(another_private_key(), "acme", "planner-1", ("administrator",)))
    with pytest.raises(Unauthorized, match="expired"):
        read_staff_token(PUBLIC, issue_staff_token(PRIVATE, "acme", "p", ttl_seconds=-10))
    with pytest.raises(Unauthorized, match="not valid"):
        read_staff_token(PUBLIC, token[:-4] + "AAAA")


def test_a_role_is_needed_for_its_work_and_an_administrator_may_do_everything():
    technician = Staff("acme", "t-1", ("technician",))
    with pytest.raises(Forbidden, match="planner"):
        technician.require("planner")
    technician.require("technician", "planner")
    Staff("acme", "a-1", ("administrator",)).require("planner")
    with pytest.raises(ValueError, match="unknown roles"):
        issue_staff_token(PRIVATE, "acme", "x", ("superuser",))


def test_a_customer_link_opens_only_what_it_was_signed_for_and_only_until_it_expires():
    token = sign_link(SECRET, "my-pages", {"booking": "b-1"})
    assert read_link(SECRET, "my-pages", token, max_age_seconds=60) == {"booking": "b-1"}
    with pytest.raises(LinkInvalid, match="not valid"):
        read_link(SECRET, "checkin", token, max_age_seconds=60)
    with pytest.raises(LinkInvalid, match="not valid"):
        read_link(SECRET, "my-pages", token[:-2] + "xx", max_age_seconds=60)
    with pytest.raises(LinkInvalid, match="expired"):
        read_link(SECRET, "my-pages", token, max_age_seconds=-1)
