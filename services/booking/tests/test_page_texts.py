"""The words of My pages and online booking: every text the pages show is in the gettext catalogs and translated in
every language, and dates read as each language writes them."""
from datetime import datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bookflow_booking import page_texts

PACKAGE = Path(page_texts.__file__).parent


def _texts_in_the_code() -> set[str]:
    found = extract_from_dir(
        PACKAGE, method_map=[("my_pages.py", "python"), ("online_booking.py", "python"), ("templates/**.html", "jinja2.ext.babel_extract")],
        keywords={"_": None, "N_": None, "gettext_in": (2,)},
    )
    return {message for _, _, message, _, _ in found}


def test_every_text_of_the_pages_is_in_the_catalog_template_and_translated_in_every_language():
    in_code = _texts_in_the_code()
    assert len(in_code) > 20
    with (PACKAGE / "locale" / "messages.pot").open("rb") as source:
        assert {m.id for m in read_po(source) if m.id} == in_code, "run the pybabel commands in services/booking/babel.cfg"
    for language in ("sv", "nb", "da", "nl"):
        with (PACKAGE / "locale" / language / "LC_MESSAGES" / "messages.po").open("rb") as source:
            catalog = read_po(source)
        translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
        assert translated == in_code, f"{language}: untranslated {sorted(in_code - translated)}"
        assert page_texts.gettext(language, "Your booking") == catalog.get("Your booking").string  # what the pages use


def test_dates_on_the_pages_read_as_each_language_writes_them():
    moment = datetime(2027, 1, 12, 8, 0)
    assert page_texts.when(moment, "sv") == "tisdag 12 januari 2027 kl. 08.00"
    assert page_texts.when(moment, "nb") == "tirsdag 12. januar 2027 kl. 08.00"
    assert page_texts.when(moment, "da") == "tirsdag den 12. januar 2027 kl. 08.00"
    assert page_texts.when(moment, "nl") == "dinsdag 12 januari 2027 om 08:00 uur"
    assert page_texts.when(moment, "en") == "Tuesday 12 January 2027 at 08:00"


def test_the_browsers_language_is_read_from_accept_language():
    assert page_texts.from_accept_language("da-DK,da;q=0.9,en;q=0.5") == "da"
    assert page_texts.from_accept_language("fr-FR,en;q=0.3,nl;q=0.8") == "nl"
    assert page_texts.from_accept_language("nn-NO") == "nb"
    assert page_texts.from_accept_language("fr-FR") is None
    assert page_texts.from_accept_language(None) is None
