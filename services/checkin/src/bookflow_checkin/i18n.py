"""The check-in page in the customer's language: gettext catalogs (`locale/<lang>/LC_MESSAGES/
checkin.po`) compiled in memory with Babel when this module is imported, so the repository holds
only the text translators edit (no binary .mo files to keep in step), and a broken catalog stops
the service at start-up rather than on a customer's screen. Dates, times and prices are
formatted by Babel's CLDR data for the language.

To add a text: write it in English in a template as `{{ _("…") }}`, add the msgid to every .po
file with its translation; `tests/test_page.py` checks that every catalog translates every text.
"""
from __future__ import annotations

import gettext
import io
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bookflow_contracts import LANGUAGES

HERE = Path(__file__).parent
LOCALES = HERE / "locale"
DOMAIN = "checkin"


def _compile(language: str) -> gettext.NullTranslations:
    path = LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


CATALOGS: dict[str, gettext.NullTranslations] = {language: _compile(language) for language in LANGUAGES}


def _environment(language: str) -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(CATALOGS[language], newstyle=True)  # type: ignore[attr-defined]
    return env


ENVIRONMENTS: dict[str, Environment] = {language: _environment(language) for language in LANGUAGES}


def page_language(*candidates: str | None) -> str:
    """The first of `candidates` the page is written in; English when none is."""
    return next((c for c in candidates if c in LANGUAGES), "en")


def negotiate(accept_language: str | None) -> str:
    """The language of a page for a visitor we know nothing of (a broken link): their browser's."""
    wanted = []
    for piece in (accept_language or "").split(",")[:20]:
        tag = piece.split(";")[0].strip().replace("-", "_")
        if tag:
            wanted.append(tag)
    try:
        found = Locale.negotiate(wanted, [*LANGUAGES, "no"], sep="_") if wanted else None
    except (UnknownLocaleError, ValueError):
        found = None
    if found is None:
        return "en"
    return "nb" if found.language in ("no", "nn", "nb") else found.language


def render(language: str, template: str, **context) -> str:
    return ENVIRONMENTS[language].get_template(template).render(lang=language, **context)


class Formats:
    """How one language writes the page's dates and prices."""

    def __init__(self, language: str, zone: ZoneInfo | None, currency: str | None) -> None:
        self.language, self.zone, self.currency = language, zone, currency

    def when(self, instant: datetime) -> str:
        return format_datetime(instant, "EEEE d MMMM y, HH:mm", tzinfo=self.zone, locale=self.language)

    def time(self, instant: datetime) -> str:
        return format_datetime(instant, "HH:mm", tzinfo=self.zone, locale=self.language)

    def price(self, amount: Decimal | None) -> str | None:
        if amount is None:
            return None
        if self.currency:
            return format_currency(amount, self.currency, locale=self.language)
        return format_decimal(amount, format="#,##0.00", locale=self.language)

    def size(self, size: int) -> str:
        if size >= 1024 * 1024:
            return f"{format_decimal(round(size / (1024 * 1024), 1), locale=self.language)} MB"
        return f"{format_decimal(max(1, round(size / 1024)), locale=self.language)} kB"
