"""Rendering and checking templates, free of I/O.

Templates render in Jinja2's sandbox, so a tenant's template can read the values it is given and
call nothing else. Names a template may use are the placeholders its key declares in
`bookflow_contracts.templates.TEMPLATES`, plus `customer` and `tenant`; a template using any
other name, or that does not parse, is refused when saved, with the line and the reason.
Times are written by Babel in the tenant's zone and the customer's language, as a native writer
of it would: "tisdag 12 januari kl. 08.00", "tirsdag 12. januar kl. 08.00", "tirsdag den 12.
januar kl. 08.00", "dinsdag 12 januari om 08:00 uur", "Tuesday 12 January at 08:00". Every
character of these is in the GSM 03.38 alphabet (Babel's English 12-hour time puts U+202F before
"AM", which would make every English SMS with a time UCS-2 and cost double).

Besides the placeholders of its key, a template sees `customer` (with `first_name`, derived here),
`tenant` (name, phone, email, website, reply_number, address_lines) and `channel` ("sms", "email",
"letter"), so one text can sign off and offer an opt-out the way each channel needs. On paper a
link is printed in its short form where the request gives one (`my_pages_short_url` for
`my_pages_url`): nobody types a 110-character signed link from a letter.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time
from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.sandbox import SandboxedEnvironment

from bookflow_contracts.templates import TEMPLATES
from bookflow_notification.default_templates import DEFAULTS, LANGUAGES

ALWAYS_AVAILABLE = ("customer", "tenant", "channel")
_ZONE, _LOCALE = "_zone", "_locale"


class CannotRender(ValueError):
    """The template does not exist, or failed on the data it was given."""


@dataclass(frozen=True)
class TemplateRejected(ValueError):
    """A template that cannot be saved: where and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def _as_datetime(value: Any) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _local(ctx: Any, value: Any) -> datetime | date | None:
    moment = _as_datetime(value)
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment.astimezone(ZoneInfo(ctx[_ZONE]))
    return moment


# How each language writes a day and a time of day (CLDR's own "full" dates carry the year and,
# in English, a comma and a US order; its short times differ in separator): day without the year
# (messages are about the coming months, and the weekday pins the date), the long date with the
# year (a letter's date line), the time alone, and the word that joins day and time.
_FORMATS: dict[str, tuple[str, str, str, str]] = {
    #       day                      long date        time     day + time
    "sv": ("EEEE d MMMM", "d MMMM y", "HH.mm", "{day} kl. {time}"),
    "nb": ("EEEE d. MMMM", "d. MMMM y", "HH.mm", "{day} kl. {time}"),
    "da": ("EEEE 'den' d. MMMM", "d. MMMM y", "HH.mm", "{day} kl. {time}"),
    "nl": ("EEEE d MMMM", "d MMMM y", "HH:mm", "{day} om {time} uur"),
    "en": ("EEEE d MMMM", "d MMMM y", "HH:mm", "{day} at {time}"),
}
_BABEL_LOCALE = {"en": "en_GB"}  # British order ("Tuesday 12 January") and a 24-hour clock


def _formats(locale: Locale) -> tuple[str, str, str, str]:
    return _FORMATS.get(locale.language, _FORMATS["en"])


# Babel takes tens of microseconds per date; appointments cluster on days and on times of day,
# so each day and each time of day is written once per language.
@functools.lru_cache(maxsize=8192)
def _day(day: date, locale: Locale) -> str:
    return format_date(day, _formats(locale)[0], locale=locale)


@functools.lru_cache(maxsize=8192)
def _long_date(day: date, locale: Locale) -> str:
    return format_date(day, _formats(locale)[1], locale=locale)


@functools.lru_cache(maxsize=8192)
def _clock(moment: time, locale: Locale) -> str:
    return format_time(moment, _formats(locale)[2], locale=locale)


def when(moment: datetime, locale: Locale) -> str:
    """A local instant as a day and a time, in the words of `locale`'s language."""
    return _formats(locale)[3].format(day=_day(moment.date(), locale), time=_clock(moment.time(), locale))


def long_date(day: date, language: str) -> str:
    """`12 januari 2027`, `12. januar 2027`, `12 January 2027`: a letter's date line."""
    return _long_date(day, _locale(language))


@pass_context
def _datetime_filter(ctx: Any, value: Any) -> str:
    """`{{ starts_at|datetime }}`: `tisdag 12 januari kl. 08.00`; text that is no time passes unchanged."""
    moment = _local(ctx, value)
    if not isinstance(moment, datetime):
        return _date_filter(ctx, value)
    return when(moment, ctx[_LOCALE])


@pass_context
def _date_filter(ctx: Any, value: Any) -> str:
    """`{{ recall_date|date }}`: `tisdag 12 januari`."""
    moment = _local(ctx, value)
    if isinstance(moment, datetime):
        moment = moment.date()
    return _day(moment, ctx[_LOCALE]) if moment is not None else str(value)


@pass_context
def _longdate_filter(ctx: Any, value: Any) -> str:
    """`{{ recall_date|longdate }}`: `12 januari 2027`."""
    moment = _local(ctx, value)
    if isinstance(moment, datetime):
        moment = moment.date()
    return _long_date(moment, ctx[_LOCALE]) if moment is not None else str(value)


@pass_context
def _time_filter(ctx: Any, value: Any) -> str:
    """`{{ starts_at|time }}`: `08.00` (sv, nb, da), `08:00` (nl, en)."""
    moment = _local(ctx, value)
    return _clock(moment.time(), ctx[_LOCALE]) if isinstance(moment, datetime) else str(value)


def _address_filter(value: Any) -> str:
    """A place as one line: street, postcode city."""
    if isinstance(value, dict):
        town = " ".join(p for p in (value.get("postcode"), value.get("city")) if p)
        return ", ".join(p for p in (value.get("street"), town) if p)
    return "" if value is None else str(value)


_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_env.filters.update(datetime=_datetime_filter, date=_date_filter, longdate=_longdate_filter, time=_time_filter,
                    address=_address_filter)
_GLOBALS = dict(_env.globals)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str):  # noqa: ANN202 (a jinja2 Template)
    return _env.from_string(source)


@functools.lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    return Locale.parse(_BABEL_LOCALE.get(language, language))  # parsed once: Babel takes a few microseconds per string otherwise


def _render(template: Any, values: dict[str, Any]) -> str:
    """`template.render(values)` without merging the environment's globals into a new dict on
    every call (a third of a small template's time): `values` already holds them."""
    return _env.concat(template.root_render_func(template.new_context({**_GLOBALS, **values}, shared=True))).strip()


def allowed_names(template_key: str) -> frozenset[str]:
    spec = TEMPLATES.get(template_key)
    return frozenset((*(spec.placeholders if spec else ()), *ALWAYS_AVAILABLE))


def check(template_key: str, source: str) -> None:
    """Raise TemplateRejected for a syntax error or a name the template key does not provide."""
    if template_key not in TEMPLATES:
        raise TemplateRejected(1, f"no template key {template_key!r}; known: {', '.join(sorted(TEMPLATES))}")
    try:
        tree = _env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateRejected(exc.lineno or 1, exc.message or "syntax error") from exc
    allowed = allowed_names(template_key)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in allowed and name.name not in assigned:
            raise TemplateRejected(
                name.lineno, f"unknown placeholder {name.name!r}; {template_key} offers {', '.join(sorted(allowed))}"
            )
    for flt in tree.find_all(nodes.Filter):
        if flt.name not in _env.filters:
            raise TemplateRejected(flt.lineno, f"unknown filter {flt.name!r}")


def default_source(template_key: str, language: str) -> tuple[str, str]:
    """The default (subject, body) in `language`, else English."""
    variants = DEFAULTS.get(template_key)
    if variants is None:
        raise CannotRender(f"no template {template_key!r}")
    return variants.get(language) or variants["en"]


def language_of(customer_language: str | None, tenant_language: str | None) -> str:
    for language in (customer_language, tenant_language):
        if language in LANGUAGES:
            return language
    return "en"


# Words that mark a customer as an organisation, whose "first name" would be nonsense ("Hej AB!").
# Legal forms count as written (so "Maria da Silva" is a person, "Nordlys DA" a company); the
# longer words in any case.
_LEGAL_FORMS = frozenset((
    "AB", "HB", "KB", "AS", "ASA", "ANS", "DA", "SA", "ApS", "A/S", "I/S", "P/S", "IVS", "BV", "B.V.", "NV", "N.V.",
    "VOF", "V.O.F.", "VvE", "Ltd", "Ltd.", "LLP", "PLC", "Plc", "Inc", "Inc.", "GmbH", "Oy", "Oyj",
))
_ORGANISATION_WORDS = frozenset(w.casefold() for w in (
    "Brf", "Bostadsrättsförening", "Förening", "Borettslag", "Sameie", "Ejerforening", "Andelsboligforening",
    "Stichting", "Limited", "Kommun", "Kommune", "Gemeente", "Council",
))


def first_name(name: str | None) -> str | None:
    """The name to greet a customer by: the first word of a person's name ("Åsa Öberg" -> "Åsa",
    "Jan-Erik de Vries" -> "Jan-Erik"); None for an organisation or an empty name, so the
    greeting goes without a name rather than "Hej AB!"."""
    words = (name or "").replace(",", " ").split()
    if not words or any(w in _LEGAL_FORMS or w.casefold() in _ORGANISATION_WORDS for w in words):
        return None
    first = words[0]
    if not any(ch.isalpha() for ch in first) or first.endswith("."):  # "123", "J." : no name to greet by
        return None
    return first.title() if first.isupper() and len(first) > 1 else first  # "ÅSA ÖBERG" from an old register


_TENANT_KEYS = ("name", "phone", "email", "website", "reply_number")


def _customer_values(customer: Any) -> dict[str, Any]:
    values = dict(customer) if isinstance(customer, dict) else {"name": None if customer is None else str(customer)}
    values.setdefault("name", None)
    values.setdefault("first_name", first_name(values["name"]))
    return values


def _tenant_values(tenant: Any) -> dict[str, Any]:
    values = dict(tenant) if isinstance(tenant, dict) else {"name": None if tenant is None else str(tenant)}
    for key in _TENANT_KEYS:
        values.setdefault(key, None)
    values.setdefault("address_lines", [])
    return values


def render(subject: str, body: str, template_key: str, values: dict[str, Any], *, zone: str, language: str,
           channel: str = "sms") -> Rendered:
    """Render subject and body with the request's values. Declared placeholders the request did
    not fill are empty (templates test them with `{% if %}`); any other missing name fails.
    `channel` is where the text goes: it chooses sign-off and opt-out lines, and on a letter each
    link with a short form (`x_short_url` beside `x_url`) is printed short."""
    spec = TEMPLATES.get(template_key)
    context = {name: None for name in (spec.placeholders if spec else ())}
    context.update(values)
    context["customer"] = _customer_values(context.get("customer"))
    context["tenant"] = _tenant_values(context.get("tenant"))
    context["channel"] = channel
    if channel == "letter":
        for name in [n for n in context if n.endswith("_url") and not n.endswith("_short_url")]:
            short = context.get(name.removesuffix("_url") + "_short_url")
            if short:
                context[name] = short
    context[_ZONE], context[_LOCALE] = zone, _locale(language)
    try:
        return Rendered(_render(_compiled(subject), context), _render(_compiled(body), context))
    except Exception as exc:  # noqa: BLE001 (any template failure is the same problem to the caller)
        raise CannotRender(f"template {template_key!r} ({language}): {exc}") from exc


def sample_values(template_key: str) -> dict[str, Any]:
    """Example values for a preview, for placeholders the caller does not give."""
    examples = {
        "service": "service", "starts_at": "2027-03-09T09:30:00+00:00", "cancel_at": "2027-03-02T09:30:00+00:00",
        "recall_date": "2027-09-01",
        "place": {"street": "Storgatan 1", "postcode": "111 22", "city": "Stockholm"},
        "booking_code": "K7Q2MX", "reply_number": "+46766860000", "booking_id": "00000000-0000-0000-0000-000000000000",
    }
    spec = TEMPLATES.get(template_key)
    names = spec.placeholders if spec else ()
    return {name: examples.get(name, f"https://example.invalid/{name}" if name.endswith("_url") else name) for name in names}
