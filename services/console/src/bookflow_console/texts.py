"""Every word of the console in Swedish, Norwegian (bokmål), Danish, Dutch and English: gettext
catalogs in `locale/<language>/LC_MESSAGES/console.po` with English as the source text, compiled
in memory when this module is imported (Babel, a few milliseconds), so there is no .mo file to
build or to go stale; `locale/console.pot` is the template a translator starts from. Also: dates
and times in the tenant's zone in each language's way, the names of states and transitions, and
a service's Problem Details turned into what went wrong and what to do."""
from __future__ import annotations

import functools
import gettext as _gettext
import io
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, pass_context

LANGUAGES = ("sv", "nb", "da", "nl", "en")
LANGUAGE_NAMES = {"sv": "Svenska", "nb": "Norsk (bokmål)", "da": "Dansk", "nl": "Nederlands", "en": "English"}
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "console"
_BABEL_LOCALE = {"en": "en_GB"}


def N_(text: str) -> str:  # noqa: N802 (gettext's "translate later")
    return text


def _load(language: str) -> _gettext.NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return _gettext.NullTranslations()
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


TRANSLATIONS: dict[str, _gettext.NullTranslations] = {language: _load(language) for language in LANGUAGES}


def gettext(language: str, text: str) -> str:
    return TRANSLATIONS.get(language, TRANSLATIONS["en"]).gettext(text)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return TRANSLATIONS.get(language, TRANSLATIONS["en"]).ngettext(singular, plural, n)


def from_accept_language(header: str | None) -> str | None:
    """The browser's most wanted language among ours; Norwegian `no` and `nn` read as bokmål."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        primary = "nb" if primary in ("no", "nn") else primary
        if primary in LANGUAGES and quality > 0:
            wanted.append((-quality, index, primary))
    return min(wanted)[2] if wanted else None


@functools.lru_cache(maxsize=16)
def locale_of(language: str) -> Locale:
    return Locale.parse(_BABEL_LOCALE.get(language, language))


# --- dates, times, money ---------------------------------------------------------------------

_CLOCK = {"sv": "HH.mm", "nb": "HH.mm", "da": "HH.mm", "nl": "HH:mm", "en": "HH:mm"}


def _local(moment: datetime | str | None, zone: str) -> datetime | None:
    if moment is None or moment == "":
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    try:
        return moment.astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):
        return moment


def clock(moment: Any, language: str, zone: str) -> str:
    local = _local(moment, zone)
    return format_time(local, _CLOCK.get(language, "HH:mm"), locale=locale_of(language)) if local else ""


def day(value: date | datetime | str | None, language: str, zone: str = "UTC", *, long: bool = False) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = _local(value, zone).date()  # type: ignore[union-attr]
    return format_date(value, "EEEE d MMMM y" if long else "EEE d MMM", locale=locale_of(language))


def moment(value: Any, language: str, zone: str) -> str:
    local = _local(value, zone)
    return f"{day(local, language, zone)} {clock(local, language, zone)}" if local else ""


def money(amount: Any, currency: str | None, language: str) -> str:
    if amount is None:
        return ""
    return format_currency(amount, currency or "SEK", locale=locale_of(language))


def number(value: Any, language: str) -> str:
    return format_decimal(value or 0, locale=locale_of(language))


# --- the services' words -----------------------------------------------------------------------

STATES = {
    "unconfirmed": N_("Not confirmed"), "confirmed": N_("Confirmed"), "booked": N_("Booked"), "planned": N_("Planned"),
    "ready-for-print": N_("Ready for print"), "awaiting-response": N_("Awaiting response"),
    "ready-for-execution": N_("Ready for execution"), "manual-follow-up": N_("Manual follow-up"), "on-hold": N_("On hold"),
    "cancelled": N_("Cancelled"), "completed": N_("Completed"), "no-show": N_("No-show"), "deleted": N_("Deleted"),
}
TRANSITIONS = {
    "confirm": N_("Confirmed"), "rebook": N_("Rebooked by the customer"), "release": N_("Released: not confirmed in time"),
    "cancel": N_("Cancelled"), "lock": N_("Locked, ready for print"), "print-letter": N_("Letter printed"),
    "send-booking-sms": N_("Booking SMS sent"), "accept-reply": N_("Customer answered OK"),
    "reply-needs-follow-up": N_("Customer's answer needs follow-up"), "no-answer": N_("No answer in time"),
    "follow-up-manually": N_("Moved to manual follow-up"), "send-to-execution": N_("Sent to execution"),
    "confirm-by-sms": N_("Confirmed by SMS"), "put-on-hold": N_("Put on hold"), "resume": N_("Back from hold"),
    "reschedule": N_("Rescheduled"), "create": N_("Created"),
}
MESSAGE_STATUSES = {
    "queued": N_("Queued"), "sending": N_("Sending"), "sent": N_("Sent"), "delivered": N_("Delivered"), "failed": N_("Failed"),
    "suppressed": N_("Not sent"), "withdrawn": N_("Withdrawn"), "held": N_("Held for quiet hours"),
}
CHANNELS = {"sms": N_("SMS"), "email": N_("E-mail"), "letter": N_("Letter")}
ROLES = {"administrator": N_("Administrator"), "planner": N_("Planner"), "receptionist": N_("Receptionist"),
         "technician": N_("Technician")}
TEMPLATES = {
    "booking-notice": N_("Booking notice (A1)"), "confirm-reminder": N_("Reminder to confirm (A3)"),
    "booking-released": N_("Booking released (A4)"), "order-letter": N_("Booking letter for a work order (B2)"),
    "booking-reminder": N_("Reminder to answer (B4)"), "appointment-reminder": N_("Appointment reminder (B6)"),
    "booking-confirmation": N_("Booking confirmation (B7)"), "checkin-link": N_("Check-in link (C1)"),
    "book-again": N_("Book again (D2)"), "recall": N_("Recall (E4)"),
}
FREED_REASONS = {"released": N_("Released: not confirmed in time"), "rebooked": N_("Rebooked by the customer"),
                 "cancelled": N_("Cancelled")}
ITEM_KINDS = {"accepted-service": N_("Accepted service"), "contact-request": N_("Wants to be contacted"),
              "comment": N_("Comment")}
_MISSING = {"street address": N_("the street address is missing"), "postcode": N_("the postcode is missing"),
            "customer name": N_("the customer's name is missing"), "technician": N_("no technician is assigned")}
_NOT_PLANNED = re.compile(r"^the order is (?P<state>[a-z-]+), not planned$")
_CANNOT = re.compile(r"cannot (?P<transition>[a-z-]+) a booking that is (?P<state>[a-z-]+)")


def state_name(language: str, state: str | None) -> str:
    return gettext(language, STATES[state]) if state in STATES else (state or "")


def refusal(language: str, reason: str) -> str:
    """A booking service's reason for leaving an order as it was, in words (B1)."""
    if reason.startswith("missing ") and reason[8:] in _MISSING:
        return gettext(language, _MISSING[reason[8:]])
    found = _NOT_PLANNED.match(reason) or _CANNOT.search(reason)
    if found:
        return gettext(language, N_("it is %(state)s, so this cannot be done now")) % {"state": state_name(language, found["state"]).lower()}
    return reason


_PROBLEMS = {
    "not-found": N_("We could not find that. It may have been removed, or the address is wrong."),
    "forbidden": N_("Your role does not allow this. Ask an administrator if you need it."),
    "transition-not-allowed": N_("That is not possible in the booking's current state. Reload the page to see where it is now."),
    "conflict": N_("That clashes with how things are now."),
    "slot-taken": N_("Someone else just took that time. Choose another."),
    "invalid-request": N_("Some of the values cannot be used. Check the fields below."),
    "invalid-input": N_("The values do not fit together. Check them and try again."),
    "invalid-booking": N_("The booking cannot be made like that. Check the times and try again."),
    "template-invalid": N_("The template cannot be saved: see the line below, fix it and try again."),
    "cannot-render": N_("The template cannot be shown with example values. Check the placeholders."),
    "wrong-login": N_("The e-mail address or the password is wrong. Check both and try again."),
    "too-many-logins": N_("Too many failed logins. For your safety, wait %(minutes)s minutes and try again, or ask an administrator to reset your password."),
    "too-many-requests": N_("Too many attempts. Wait a little and try again."),
    "link-not-valid": N_("This link was used already, has expired or was replaced by a newer one. Ask an administrator for a new link."),
    "session-ended": N_("Your session has ended. Log in again."),
    "unreachable": N_("The %(service)s service is not answering. Try again in a minute; if it goes on, tell your IT contact."),
    "service-unavailable": N_("The %(service)s service is busy or being restarted. Try again in a minute."),
    "database-unavailable": N_("The %(service)s service cannot reach its database right now. Try again in a minute."),
    "internal-error": N_("Something went wrong in the %(service)s service. It has been logged; try again later."),
    "item-cannot-be-handled": N_("That item cannot be handled like that any more. Reload the page."),
    "idempotency-key-reused": N_("That was already done."),
}
SERVICE_NAMES = {"booking": N_("booking"), "notification": N_("messaging"), "scheduler": N_("scheduling"),
                 "recall": N_("recall"), "checkin": N_("check-in")}
FIELDS = {
    "email": N_("E-mail"), "password": N_("Password"), "name": N_("Name"), "roles": N_("Roles"), "starts_at": N_("Start"),
    "ends_at": N_("End"), "estimate": N_("Estimate"), "sequence": N_("Order in the day"), "back_around": N_("Back around"),
    "technician_id": N_("Technician"), "reason": N_("Reason"), "body": N_("Text"), "subject": N_("Subject"),
    "quiet_hours_start": N_("Quiet hours from"), "quiet_hours_end": N_("Quiet hours until"),
    "sms_price_per_segment": N_("Price per SMS segment"), "currency": N_("Currency"), "payer": N_("Payer"),
    "link_before": N_("Send the link"), "day": N_("Day"), "booking_ids": N_("Orders"),
    "time_zone": N_("Time zone"), "language": N_("Language"), "flow": N_("Flow of new bookings"),
    "reminder_before": N_("Reminder to confirm"), "release_after_reminder": N_("Release when not confirmed"),
    "letter_response_time": N_("Wait for an answer to a letter"), "sms_response_time": N_("Wait for an answer to a booking SMS"),
    "appointment_reminder_at": N_("Appointment reminder the day before at"), "channels": N_("Channels"),
    "reply_number": N_("Number customers reply to"), "phone": N_("Phone"), "website": N_("Website"), "letter_folder": N_("Letter folder"),
    "customer_number": N_("Customer number"), "preferred_channel": N_("Preferred channel"), "street": N_("Street"),
    "postcode": N_("Postcode"), "city": N_("City"), "marketing_consent": N_("Book-again and recall messages"),
}


def problem_words(language: str, problem: Any) -> str:
    """What went wrong and what to do, in the person's language; never a code or a stack trace."""
    status, code = problem.status, problem.code
    service = gettext(language, SERVICE_NAMES.get(problem.service, problem.service))
    text = _PROBLEMS.get(code)
    if text is None:
        text = {404: _PROBLEMS["not-found"], 403: _PROBLEMS["forbidden"], 409: _PROBLEMS["conflict"],
                422: _PROBLEMS["invalid-request"], 429: _PROBLEMS["too-many-requests"]}.get(status)
    if text is None:
        text = _PROBLEMS["internal-error"] if status >= 500 else N_("The request could not be done.")
    minutes = max(1, ((problem.retry_after or 60) + 59) // 60)
    return gettext(language, text) % {"service": service, "minutes": minutes} if "%(" in text else gettext(language, text)


def field_problems(language: str, problem: Any) -> list[str]:
    """Each field the service named, with what is wrong with it."""
    out = []
    for error in getattr(problem, "errors", None) or []:
        parts = str(error.get("field", "")).split(".")
        name = next((part for part in reversed(parts) if part in FIELDS), parts[-1])  # body.channels.0 is the channels
        label = gettext(language, FIELDS[name]) if name in FIELDS else name
        line = error.get("line")
        where = f"{label}, " + gettext(language, N_("line %(line)s")) % {"line": line} if line else label
        out.append(f"{where}: {error.get('message', '')}")
    return out


# --- templates -------------------------------------------------------------------------------


@pass_context
def _page_gettext(context: Any, text: str) -> str:
    return gettext(context.get("lang") or "en", text)


@pass_context
def _page_ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return ngettext(context.get("lang") or "en", singular, plural, n)


def install(env: Environment) -> None:
    """Templates write `{{ _("Orders") }}` or `{{ _("%(n)s orders", n=3) }}`, translated into the page's
    `lang` (Jinja's new-style gettext fills in the variables after translating)."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=_page_gettext, ngettext=_page_ngettext, newstyle=True)  # type: ignore[attr-defined]
