"""Rendering and checking templates, free of I/O.

Templates render in Jinja2's sandbox, so a tenant's template can read the values it is given and
call nothing else. Names a template may use are the placeholders its key declares in
`bookflow_contracts.templates.TEMPLATES`, plus `customer` and `tenant`; a template using any
other name, or that does not parse, is refused when saved, with the line and the reason.
Times are written by Babel in the tenant's zone and the customer's language.
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

ALWAYS_AVAILABLE = ("customer", "tenant")
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


# Babel takes tens of microseconds per date; appointments cluster on days and on times of day,
# so each day and each time of day is written once per language.
@functools.lru_cache(maxsize=8192)
def _day(day: date, locale: Locale) -> str:
    return format_date(day, "full", locale=locale)


@functools.lru_cache(maxsize=8192)
def _clock(moment: time, locale: Locale) -> str:
    return format_time(moment, "short", locale=locale)


@pass_context
def _datetime_filter(ctx: Any, value: Any) -> str:
    """`{{ starts_at|datetime }}`: `tisdag 12 januari 2027 08:00`; text that is no time passes unchanged."""
    moment = _local(ctx, value)
    if not isinstance(moment, datetime):
        return _date_filter(ctx, value)
    return f"{_day(moment.date(), ctx[_LOCALE])} {_clock(moment.time(), ctx[_LOCALE])}"


@pass_context
def _date_filter(ctx: Any, value: Any) -> str:
    moment = _local(ctx, value)
    if isinstance(moment, datetime):
        moment = moment.date()
    return _day(moment, ctx[_LOCALE]) if moment is not None else str(value)


@pass_context
def _time_filter(ctx: Any, value: Any) -> str:
    moment = _local(ctx, value)
    return _clock(moment.time(), ctx[_LOCALE]) if isinstance(moment, datetime) else str(value)


def _address_filter(value: Any) -> str:
    """A place as one line: street, postcode city."""
    if isinstance(value, dict):
        town = " ".join(p for p in (value.get("postcode"), value.get("city")) if p)
        return ", ".join(p for p in (value.get("street"), town) if p)
    return "" if value is None else str(value)


_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_env.filters.update(datetime=_datetime_filter, date=_date_filter, time=_time_filter, address=_address_filter)
_GLOBALS = dict(_env.globals)


@functools.lru_cache(maxsize=4096)
def _compiled(source: str):  # noqa: ANN202 (a jinja2 Template)
    return _env.from_string(source)


@functools.lru_cache(maxsize=64)
def _locale(language: str) -> Locale:
    return Locale.parse(language)  # parsed once: Babel takes a few microseconds per string otherwise


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


def render(subject: str, body: str, template_key: str, values: dict[str, Any], *, zone: str, language: str) -> Rendered:
    """Render subject and body with the request's values. Declared placeholders the request did
    not fill are empty (templates test them with `{% if %}`); any other missing name fails."""
    spec = TEMPLATES.get(template_key)
    context = {name: None for name in (spec.placeholders if spec else ())}
    context.update(values)
    context[_ZONE], context[_LOCALE] = zone, _locale(language)
    try:
        return Rendered(_render(_compiled(subject), context), _render(_compiled(body), context))
    except Exception as exc:  # noqa: BLE001 (any template failure is the same problem to the caller)
        raise CannotRender(f"template {template_key!r} ({language}): {exc}") from exc


def sample_values(template_key: str) -> dict[str, Any]:
    """Example values for a preview, for placeholders the caller does not give."""
    examples = {
        "service": "service", "starts_at": "2027-03-09T09:30:00+00:00", "recall_date": "2027-09-01",
        "place": {"street": "Storgatan 1", "postcode": "111 22", "city": "Stockholm"},
        "booking_code": "K7Q2MX", "reply_number": "+46766860000", "booking_id": "00000000-0000-0000-0000-000000000000",
    }
    spec = TEMPLATES.get(template_key)
    names = spec.placeholders if spec else ()
    return {name: examples.get(name, f"https://example.invalid/{name}" if name.endswith("_url") else name) for name in names}
