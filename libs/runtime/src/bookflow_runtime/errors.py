"""Errors as types. A `BookflowError` maps to one HTTP status and one code and is answered as
Problem Details (RFC 9457: `type`, `title`, `status`, `detail`, plus `code`); `Undeliverable`
sends a consumed message to the dead-letter topic with its reason."""

from __future__ import annotations


class BookflowError(Exception):
    """Base of errors a caller can act on. Subclasses set `status`, `code` and `title` (what went
    wrong in a few words); `detail` says what exactly, and what to do; keyword arguments become
    extension members of the Problem."""

    status: int = 400
    code: str = "bad-request"
    title: str = "The request cannot be handled"

    def __init__(self, detail: str, **extensions: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions  # extension members of the Problem (RFC 9457 §3.2), such as a template's `line`


class NotFound(BookflowError):
    """The thing does not exist, or belongs to another tenant (never say which)."""

    status = 404
    code = "not-found"
    title = "Not found"


class Conflict(BookflowError):
    """The request clashes with the current state, such as a transition not allowed."""

    status = 409
    code = "conflict"
    title = "Not possible in the current state"


class InvalidInput(BookflowError):
    """The request is well-formed but its values do not make sense together."""

    status = 422
    code = "invalid-input"
    title = "The request has values that cannot be used"


class TooManyRequests(BookflowError):
    """Too many attempts from one caller; `retry_after` seconds until the next may succeed."""

    status = 429
    code = "too-many-requests"
    title = "Too many attempts"

    def __init__(self, detail: str, retry_after: int = 60) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class Undeliverable(Exception):
    """A consumed message that can never be handled, whatever is retried: it goes to the
    dead-letter topic at once with `reason` (such as `unknown-tenant`) and the text."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
