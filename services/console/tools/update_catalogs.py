"""Extract every text of the console into locale/console.pot and merge it into each language's
console.po (new texts arrive untranslated, texts no longer used are dropped). Run after changing
texts: `.venv/bin/python services/console/tools/update_catalogs.py`; then translate the empty
entries. The console compiles the .po files itself when it starts."""
from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "bookflow_console"
LOCALE = PACKAGE / "locale"
KEYWORDS = {"_": None, "gettext": (2,), "ngettext": (1, 2), "N_": None, "t": (2,)}  # Python's gettext(language, text)
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def template() -> Catalog:
    catalog = Catalog(project="bookflow console", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(PACKAGE, METHODS, options_map=OPTIONS, keywords=KEYWORDS):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def main() -> None:
    pot = template()
    with (LOCALE / "console.pot").open("wb") as out:
        write_po(out, pot, omit_header=False, sort_output=True, width=120)
    for language in ("sv", "nb", "da", "nl"):
        path = LOCALE / language / "LC_MESSAGES" / "console.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as source:
                catalog = read_po(source, locale=language)
        else:
            catalog = Catalog(locale=language, project="bookflow console", charset="utf-8")
        catalog.update(pot, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as out:
            write_po(out, catalog, sort_output=True, width=120, ignore_obsolete=True)
        missing = [m.id for m in catalog if m.id and not m.string or (isinstance(m.string, tuple) and not all(m.string))]
        print(f"{language}: {len(catalog)} texts, {len(missing)} untranslated")


if __name__ == "__main__":
    main()
