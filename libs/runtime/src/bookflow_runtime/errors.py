"""Business errors as types, each mapping to one HTTP status; the HTTP shell renders them as
`{"error": code, "detail": text}`."""

from __future__ import annotations


class BookflowError(Exception):
    """Base of errors a caller can act on. Subclasses set `status` and `code`."""

    status: int = 400
    code: str = "bad-request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(BookflowError):
    """The thing does not exist, or belongs to another tenant (never say which)."""

    status = 404
    code = "not-found"


class Conflict(BookflowError):
    """The request clashes with the current state, such as a transition not allowed."""

    status = 409
    code = "conflict"
