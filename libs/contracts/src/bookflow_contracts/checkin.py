"""What the check-in service announces on `checkin.events` (C3–C7). The booking service keeps
them for the communication log and the technician's work list."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, Field

from bookflow_contracts import topics
from bookflow_contracts.envelope import Message, booking_key
from bookflow_contracts.parts import Part


class CheckinAnswered(Message):
    """The customer sent the check-in page (C2): what they accepted, asked about and commented."""

    message_type = "checkin.answered"
    topic = topics.CHECKIN_EVENTS

    booking_id: uuid.UUID = Field(description="The booking checked in for.")
    customer_id: uuid.UUID = Field(description="The customer.")
    answered_at: AwareDatetime = Field(description="When the customer sent it.")
    accepted_services: list[str] = Field(default_factory=list, description="Optional services accepted.")
    contact_requests: list[str] = Field(default_factory=list, description="Optional services the customer wants to be contacted about.")
    comments: int = Field(0, ge=0, description="How many comments the customer left.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


class CheckinItemHandled(Message):
    """The receptionist handled one item of a check-in (C5)."""

    message_type = "checkin.item-handled"
    topic = topics.CHECKIN_EVENTS

    booking_id: uuid.UUID = Field(description="The booking.")
    item_id: uuid.UUID = Field(description="The item (an accepted service, a contact request or a comment).")
    kind: Literal["accepted-service", "contact-request", "comment"] = Field(description="What the item is.")
    outcome: Literal["handled", "converted-to-intervention", "intervention-dropped"] = Field(description="What was done with it.")
    actor: str = Field(description="`staff:<id>`.")
    all_handled: bool = Field(description="Whether every item of the check-in is now handled (C7: answered).")
    service: str | None = Field(None, max_length=100, description="The optional service of an accepted-service or contact-request item.")
    work_line_id: uuid.UUID | None = Field(None, description="The work line asked of booking (`booking.add-work-line`), if one was.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


class SharedFile(Part):
    """A customer's file of a comment shared with mechanics."""

    file_id: uuid.UUID = Field(description="The file's id in the check-in service.")
    name: str = Field(max_length=200, description="The file's name as uploaded.")
    content_type: str = Field(max_length=100, description="Its type, checked on the bytes.")
    size: int = Field(ge=0, description="Bytes.")
    url: str | None = Field(None, max_length=500, description="Where staff open it: the check-in service's address, "
                            "answered only with a staff token of the tenant.")


class CommentSharedWithMechanics(Message):
    """A comment and its files were made visible to mechanics (C6), or hidden again."""

    message_type = "checkin.comment-shared"
    topic = topics.CHECKIN_EVENTS

    booking_id: uuid.UUID = Field(description="The booking.")
    comment_id: uuid.UUID = Field(description="The comment.")
    visible: bool = Field(description="True: mechanics see it; False: hidden again.")
    subject: str = Field(max_length=200, description="The comment's subject.")
    description: str = Field(max_length=5000, description="The comment's text.")
    files: list[SharedFile] = Field(default_factory=list, description="Its files; staff open them on the check-in service.")

    def ordering_key(self) -> str:
        return booking_key(self.booking_id)


__all__ = ["CheckinAnswered", "CheckinItemHandled", "CommentSharedWithMechanics", "SharedFile"]
