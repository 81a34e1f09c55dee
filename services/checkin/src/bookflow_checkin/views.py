"""What staff read: typed answers of the staff API, each built by one read query function."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bookflow_checkin import domain, handlers, storage
from bookflow_contracts import CustomerSnapshot, Subject, WorkLine
from bookflow_runtime.auth import Staff
from bookflow_runtime.errors import NotFound


class CheckinSettingsView(BaseModel):
    enabled: bool = Field(description="Whether customers get the check-in link.")
    link_before: timedelta = Field(description="How long before the appointment the link goes out (ISO 8601; whole days "
                                   "count on the tenant's calendar).")
    convert_to_intervention: list[str] = Field(description="Services that become a work line when the receptionist "
                                               "handles them (\"Omzetten naar interventie\").")
    updated_at: datetime | None = Field(None, description="When an administrator last changed them.")
    updated_by: str | None = Field(None, description="Who did.")


def settings_view(row: storage.SettingsRow) -> CheckinSettingsView:
    return CheckinSettingsView(enabled=row.rules.enabled, link_before=row.rules.link_before,
                               convert_to_intervention=sorted(row.rules.convert_to_intervention),
                               updated_at=row.updated_at, updated_by=row.updated_by)


async def read_settings(session: AsyncSession, tenant_id: str) -> CheckinSettingsView:
    return settings_view(await storage.rules(session, tenant_id))


class CheckinMarks(BaseModel):
    link_sent_at: datetime | None = Field(None, description="When the link was asked for (C1).")
    answered_at: datetime | None = Field(None, description="When the customer last sent the page.")
    items: int = Field(description="Items the customer's answer made.")
    unhandled: int = Field(description="Items not handled yet.")


class AppointmentLine(BaseModel):
    """One line of the receptionist's list (C4, C7)."""

    booking_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    state: str
    service: str
    customer_name: str | None
    subject: Subject | None
    checkin: CheckinMarks
    pinned: bool = Field(description="Pinned at the top: an item waits to be handled (seed: \"vastgezet\").")
    answered: bool = Field(description="The customer answered and every item is handled: the name shows in blue.")
    on_day: bool = Field(description="The appointment is on the day asked for (pinned ones may be on another).")


async def day_list(session: AsyncSession, tenant_id: str, day: date | None, *, today: datetime) -> list[AppointmentLine]:
    """The day's appointments in the tenant's zone (with no day: every one from today on),
    pinned ones (from any day) first."""
    tenant = await storage.tenant(session, tenant_id)
    zone = (tenant.zone if tenant else None) or domain.zone_of("UTC")
    assert zone is not None
    if day is None:
        start, end = domain.day_bounds(today.astimezone(zone).date(), zone)
        end = start + timedelta(days=3660)
    else:
        start, end = domain.day_bounds(day, zone)
    lines = [
        AppointmentLine(
            booking_id=a.booking_id, starts_at=a.starts_at, ends_at=a.ends_at, state=a.state, service=a.service,
            customer_name=a.customer.name if a.customer else None, subject=a.subject,
            checkin=CheckinMarks(link_sent_at=a.link_sent_at, answered_at=a.answered_at, items=m.items, unhandled=m.unhandled),
            pinned=m.pinned, answered=m.answered_mark, on_day=start <= a.starts_at < end,
        )
        for a, m in ((listed.appointment, listed.marks) for listed in await storage.day_list(session, tenant_id, start, end))
    ]
    return sorted((line for line in lines if line.pinned or line.on_day), key=lambda line: (not line.pinned, line.starts_at))


class InterventionView(BaseModel):
    service: str
    description: str | None = None
    remark: str | None = None
    price_incl_vat: Decimal | None = None
    vat_rate: Decimal | None = None


class WorkLineRequest(BaseModel):
    line_id: uuid.UUID
    status: Literal["pending", "applied", "refused"]
    reason: str | None = None
    line: WorkLine | None = None


class ItemView(BaseModel):
    item_id: uuid.UUID
    kind: domain.ItemKind
    state: domain.ItemState = Field(description="`unhandled`, `handled`, or `converted` (an optional service that became "
                                    "a work line and left the check-in section).")
    service: str | None = None
    service_name: str | None = None
    price_incl_vat: Decimal | None = None
    comment_id: uuid.UUID | None = None
    outcome: str | None = None
    handled_at: datetime | None = None
    handled_by: str | None = None
    convert_to_intervention: bool = Field(False, description="Handling it opens the intervention window.")
    intervention_draft: InterventionView | None = Field(None, description="The intervention it opens, filled in from it.")
    work_line: WorkLineRequest | None = None


class FileView(BaseModel):
    file_id: uuid.UUID
    name: str
    content_type: str
    size: int
    url: str = Field(description="Opens with a staff token of the tenant.")


class CommentView(BaseModel):
    comment_id: uuid.UUID
    subject: str
    description: str
    created_at: datetime
    visible_to_mechanics: bool
    shared_at: datetime | None = None
    shared_by: str | None = None
    files: list[FileView]


class ContactChangeView(BaseModel):
    request_id: uuid.UUID
    phone: str | None
    email: str | None
    preferred_channel: str | None
    requested_at: datetime
    status: str
    reason: str | None


class AppointmentCheckin(BaseModel):
    """An appointment with its check-in section (seed: above "Werkomschrijvingen")."""

    booking_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    state: str
    service: str
    customer: CustomerSnapshot | None
    subject: Subject | None
    work_lines: list[WorkLine]
    link_sent_at: datetime | None
    answered_at: datetime | None
    pinned: bool
    answered: bool
    items: list[ItemView] = Field(description="Items still in the check-in section (converted services leave it).")
    converted: list[ItemView] = Field(description="Optional services that became work lines.")
    comments: list[CommentView]
    contact_changes: list[ContactChangeView]


async def appointment_checkin(session: AsyncSession, deps: handlers.Deps, staff: Staff, booking_id: uuid.UUID) -> AppointmentCheckin:
    """The appointment's check-in section; a technician sees only comments shared with mechanics."""
    a = await storage.appointment(session, booking_id, staff.tenant_id)
    if a is None:
        raise NotFound(f"no appointment {booking_id}")
    tenant = await storage.tenant(session, staff.tenant_id)
    rules = (await storage.rules(session, staff.tenant_id)).rules
    found = await storage.items_of(session, booking_id)
    only_technician = "technician" in staff.roles and not set(staff.roles) - {"technician"}
    comments = [c for c in await storage.comments_of(session, booking_id) if c.shared or not only_technician]
    views = [await _item_view(session, staff.tenant_id, tenant, rules, i) for i in ([] if only_technician else found)]
    marks = domain.Marks(len(found), sum(1 for i in found if not i.handled), a.answered_at is not None)
    return AppointmentCheckin(
        booking_id=a.booking_id, starts_at=a.starts_at, ends_at=a.ends_at, state=a.state, service=a.service,
        customer=a.customer, subject=a.subject, work_lines=list(a.work_lines), link_sent_at=a.link_sent_at,
        answered_at=a.answered_at, pinned=marks.pinned, answered=marks.answered_mark,
        items=[v for v in views if v.state != "converted"], converted=[v for v in views if v.state == "converted"],
        comments=[comment_view(deps, staff.tenant_id, c) for c in comments],
        contact_changes=[] if only_technician else [
            ContactChangeView(**vars(c)) for c in await storage.contact_changes_of(session, booking_id)],
    )


async def _item_view(session: AsyncSession, tenant_id: str, tenant: domain.Tenant | None, rules: domain.Rules,
                     item: domain.Item) -> ItemView:
    service = tenant.catalog_service(item.service) if tenant and item.service else None
    draft = await handlers.draft_intervention(session, tenant_id, item) if not item.handled and item.kind != "contact-request" else None
    return ItemView(
        item_id=item.item_id, kind=item.kind, state=item.state, service=item.service,
        service_name=service.name if service else item.service, price_incl_vat=service.price_incl_vat if service else None,
        comment_id=item.comment_id, outcome=item.outcome, handled_at=item.handled_at, handled_by=item.handled_by,
        convert_to_intervention=item.kind == "comment" or (item.kind == "accepted-service" and item.service in rules.convert_to_intervention),
        intervention_draft=InterventionView(**vars(draft)) if draft else None,
        work_line=WorkLineRequest(line_id=item.work_line_id, status=item.work_line_status or "pending", reason=item.work_line_reason,
                                  line=item.work_line) if item.work_line_id else None,
    )


def comment_view(deps: handlers.Deps, tenant_id: str, c: storage.Comment) -> CommentView:
    return CommentView(comment_id=c.comment_id, subject=c.subject, description=c.description, created_at=c.created_at,
                       visible_to_mechanics=c.shared, shared_at=c.shared_at, shared_by=c.shared_by,
                       files=[FileView(file_id=f.file_id, name=f.name, content_type=f.content_type, size=f.size,
                                       url=deps.file_url(tenant_id, f.file_id)) for f in c.files])


class HandledItem(BaseModel):
    """An item just handled."""

    item_id: uuid.UUID
    kind: domain.ItemKind
    state: domain.ItemState
    outcome: str | None
    handled_at: datetime | None
    handled_by: str | None
    work_line: WorkLineRequest | None = Field(None, description="The work line asked of booking, if one was.")


def handled_item(item: domain.Item) -> HandledItem:
    return HandledItem(item_id=item.item_id, kind=item.kind, state=item.state, outcome=item.outcome, handled_at=item.handled_at,
                       handled_by=item.handled_by,
                       work_line=WorkLineRequest(line_id=item.work_line_id, status=item.work_line_status or "pending",
                                                 reason=item.work_line_reason, line=item.work_line) if item.work_line_id else None)
