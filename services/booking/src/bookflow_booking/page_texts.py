"""The words of the customer's pages in Swedish, Norwegian (bokmål), Danish, Dutch and English:
gettext catalogs in `locale/<language>/LC_MESSAGES/messages.po`, with English as the source text,
and how dates and times are written in each language.

The catalogs are compiled in memory when this module is imported (Babel reads each .po and
writes its .mo into a buffer, a few milliseconds), so no compiled .mo file is kept in the
repository or has to be built on install: a fresh clone works with `./bookflow up`, and a .po
edited by a translator is what the page shows at the next start, never a stale .mo beside it.
`locale/messages.pot` is the template a translator starts from; the tests check that every text
of the pages is in it and translated in every language.

Pages call `_("...")` in templates; Python code marks texts with `N_` and translates them with
`gettext(language, text)`.
"""
from __future__ import annotations

import functools
import gettext as _gettext
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment, pass_context

LANGUAGES = ("sv", "nb", "da", "nl", "en")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"

# Day, day with year, time, and day + time in each language: "tirsdag den 12. januar 2027 kl.
# 08.00", "dinsdag 12 januari 2027 om 08:00 uur" (the same words as the messages customers get).
_FORMATS = {
    "sv": ("EEEE d MMMM", "EEEE d MMMM y", "HH.mm", "{day} kl. {time}"),
    "nb": ("EEEE d. MMMM", "EEEE d. MMMM y", "HH.mm", "{day} kl. {time}"),
    "da": ("EEEE 'den' d. MMMM", "EEEE 'den' d. MMMM y", "HH.mm", "{day} kl. {time}"),
    "nl": ("EEEE d MMMM", "EEEE d MMMM y", "HH:mm", "{day} om {time} uur"),
    "en": ("EEEE d MMMM", "EEEE d MMMM y", "HH:mm", "{day} at {time}"),
}
_BABEL_LOCALE = {"en": "en_GB"}


def N_(text: str) -> str:  # noqa: N802 (the gettext convention for "translate later")
    """Mark `text` for the catalogs; it is translated where it is shown."""
    return text


def _load(language: str) -> _gettext.NullTranslations:
    po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po.is_file():
        return _gettext.NullTranslations()  # English: the source texts
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _gettext.GNUTranslations(compiled)


TRANSLATIONS: dict[str, _gettext.NullTranslations] = {language: _load(language) for language in LANGUAGES}


def gettext(language: str, text: str) -> str:
    return TRANSLATIONS.get(language, TRANSLATIONS["en"]).gettext(text)


def language_for(customer_language: str | None, tenant_language: str | None) -> str:
    """The customer's language where the pages have it, else the business's, else English."""
    for language in (customer_language, tenant_language):
        if language in LANGUAGES:
            return language
    return "en"


def from_accept_language(header: str | None) -> str | None:
    """The browser's most wanted language among ours (`Accept-Language: da-DK,da;q=0.9,en;q=0.5`),
    or None. Norwegian `no` and `nn` read as bokmål."""
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
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(_BABEL_LOCALE.get(language, language))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en_GB")


def _formats(language: str) -> tuple[str, str, str, str]:
    return _FORMATS.get(language, _FORMATS["en"])


def day(value: date, language: str) -> str:
    """`tirsdag 12. januar`: a day in a list of free times."""
    return format_date(value, _formats(language)[0], locale=_locale(language))


def clock(moment: datetime, language: str) -> str:
    """`08.00` (sv, nb, da) or `08:00` (nl, en): a local time."""
    return format_time(moment, _formats(language)[2], locale=_locale(language))


def when(moment: datetime, language: str) -> str:
    """`tisdag 12 januari 2027 kl. 08.00`: a local instant with its year, as the page states it."""
    f = _formats(language)
    return f[3].format(day=format_date(moment.date(), f[1], locale=_locale(language)), time=clock(moment, language))


@pass_context
def _page_gettext(context: Any, text: str) -> str:
    return gettext(context.get("lang") or "en", text)


@pass_context
def _page_ngettext(context: Any, singular: str, plural: str, n: int) -> str:
    return TRANSLATIONS.get(context.get("lang") or "en", TRANSLATIONS["en"]).ngettext(singular, plural, n)


def install(env: Environment) -> None:
    """Templates write `{{ _("Your booking") }}`, translated into the page's `lang`."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(gettext=_page_gettext, ngettext=_page_ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["gettext_in"] = gettext
