"""Explicit development mode (`BOOKFLOW_DEVELOPMENT=1`, which `bookflow up` and the test suite
set): the one place the development secrets live. They are public, so a service outside
development mode refuses to start with any of them, or without a secret it needs, and says
which variable to set. Development mode also allows the sandbox channel.
"""

from __future__ import annotations

ENVIRONMENT_FLAG = "BOOKFLOW_DEVELOPMENT"

OPERATOR_TOKEN = "bookflow-development-admin-token"  # noqa: S105 (public on purpose: development only)
LINK_SECRET = "bookflow-development-link-secret-change-me-before-use"  # noqa: S105
SECRETS_KEY = "I8B2SzSeaCvk1MkfzY2txyxKHQOkNJq1LahJrREIH60="  # a Fernet key  # noqa: S105
STAFF_TOKEN_PRIVATE_KEY = """-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIGIupGF0/LMvc4BmCju1FYw//Vl9sGG/88gtNOQini6+
-----END PRIVATE KEY-----
"""  # Ed25519; signs staff tokens in the booking service
STAFF_TOKEN_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAkMSWgDHOvk2IMa8fW55uy7f6ZLNTbORVRgp/8Dyqbnk=
-----END PUBLIC KEY-----
"""

SECRETS = {
    "operator_token": OPERATOR_TOKEN,
    "link_secret": LINK_SECRET,
    "secrets_key": SECRETS_KEY,
    "staff_token_private_key": STAFF_TOKEN_PRIVATE_KEY,
    "staff_token_public_key": STAFF_TOKEN_PUBLIC_KEY,
}
"""Each development secret by the settings field it fills."""
