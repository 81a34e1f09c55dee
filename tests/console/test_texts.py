"""The console's words: every text of every page is in the catalogs and translated into
Swedish, Norwegian, Danish and Dutch with the same placeholders; the services' refusals read
as words, never as codes."""
import re

from babel.messages.pofile import read_po

from bookflow_console import texts
from bookflow_console.client import ServiceProblem

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_text_is_translated_with_the_same_placeholders_in_every_language():
    for language in ("sv", "nb", "da", "nl"):
        with (texts.LOCALE_DIR / language / "LC_MESSAGES" / "console.po").open("rb") as source:
            catalog = read_po(source, locale=language)
        for message in catalog:
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings), f"{language}: {ids[0]!r} is not translated"
            for string in strings:
                assert set(PLACEHOLDER.findall(string)) <= set(PLACEHOLDER.findall(ids[-1])), (language, ids[0], string)


def test_the_template_holds_every_text_the_pages_use():
    with (texts.LOCALE_DIR / "console.pot").open("rb") as source:
        known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(source) if m.id}
    for words in (texts.STATES, texts.TRANSITIONS, texts.MESSAGE_STATUSES, texts.ROLES, texts.TEMPLATES, texts._PROBLEMS):
        assert set(words.values()) <= known


def test_a_refusal_reads_as_what_went_wrong_and_what_to_do():
    locked_out = ServiceProblem("booking", 429, "too-many-logins", "too many failed logins", retry_after=840)
    assert texts.problem_words("sv", locked_out).startswith("För många misslyckade inloggningar")
    assert "14 minuter" in texts.problem_words("sv", locked_out)
    down = ServiceProblem("notification", 503, "unreachable", "ConnectError")
    assert texts.problem_words("nl", down) == ("De dienst voor berichten reageert niet. Probeer het over een minuut opnieuw; "
                                               "meld het bij je IT-contact als het zo blijft.")
    unknown = ServiceProblem("checkin", 500, "internal-error", "the error is logged under correlation id x")
    assert "internal-error" not in texts.problem_words("en", unknown)
    assert texts.refusal("nb", "missing street address") == "gateadressen mangler"
    assert texts.refusal("da", "the order is awaiting-response, not planned") == "den er afventer svar, så det kan ikke lade sig gøre nu"


def test_dates_and_times_are_written_the_languages_way_in_the_tenants_zone():
    instant = "2027-01-12T07:00:00+00:00"
    assert texts.moment(instant, "sv", "Europe/Stockholm") == "tis 12 jan. 08.00"
    assert texts.clock(instant, "nl", "Europe/Amsterdam") == "08:00"
