"""Letters as PDF files with fpdf2: one per message, written to the tenant's letter folder.

A letter has what a customer needs to act on it without a screen: the business's name, address
and how to reach it (phone, e-mail, web) at the top; the customer's address; the date in the
letter's language ("12 januari 2027"); the text, whose links are short and typeable on paper (see
templating.render); the first link again as a QR code to scan; and a letter's closing
("Med vänliga hälsningar", then the business's name) instead of an SMS's "/Acme".

The text is set in DejaVu Sans, embedded in the PDF, so every letter of every European name prints
(Ł, ş, ő as well as å, ø, ë); the PDF core fonts speak only Windows-1252 and would print "?".
The font comes from Debian's fonts-dejavu-core (requirements/apt.txt, deploy/Dockerfile), or
from the folder in BOOKFLOW_LETTER_FONT_DIR.
"""
from __future__ import annotations

import asyncio
import functools
import io
import logging
import os
import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import segno
from fpdf import FPDF

from bookflow_notification import templating
from bookflow_notification.channels import Accepted, Outgoing, SendFailed

_log = logging.getLogger(__name__)

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu", "/usr/local/share/fonts/dejavu")
_FONT = "DejaVu"
_URL = re.compile(r"https?://[^\s<>\"]+")

# What a letter says around the text, in the letter's language.
_WORDS = {
    "sv": {"closing": "Med vänliga hälsningar", "scan": "Eller skanna koden med mobilens kamera:",
           "phone": "Telefon", "email": "E-post", "web": "Webb"},
    "nb": {"closing": "Med vennlig hilsen", "scan": "Eller skann koden med kameraet på mobilen:",
           "phone": "Telefon", "email": "E-post", "web": "Nettside"},
    "da": {"closing": "Med venlig hilsen", "scan": "Eller scan koden med kameraet på din mobil:",
           "phone": "Telefon", "email": "E-mail", "web": "Web"},
    "nl": {"closing": "Met vriendelijke groet", "scan": "Of scan de code met de camera van uw telefoon:",
           "phone": "Telefoon", "email": "E-mail", "web": "Website"},
    "en": {"closing": "Kind regards", "scan": "Or scan the code with your phone's camera:",
           "phone": "Phone", "email": "Email", "web": "Web"},
}


@functools.cache
def _font_dir() -> Path | None:
    for folder in (os.environ.get("BOOKFLOW_LETTER_FONT_DIR"), *_FONT_DIRS):
        if folder and (Path(folder) / "DejaVuSans.ttf").is_file() and (Path(folder) / "DejaVuSans-Bold.ttf").is_file():
            return Path(folder)
    _log.warning("no DejaVu Sans font found (install fonts-dejavu-core or set BOOKFLOW_LETTER_FONT_DIR): "
                 "letters use a Windows-1252 font, and letters outside it print as '?'")
    return None


def _first_link(text: str) -> str | None:
    match = _URL.search(text)
    return match.group(0).rstrip(".,;:!?)") if match else None


def _qr_png(link: str) -> io.BytesIO:
    image = io.BytesIO()
    segno.make(link, error="m").save(image, kind="png", scale=8, border=4)
    image.seek(0)
    return image


class _Letter:
    """Writing on one page, in the embedded font when there is one."""

    def __init__(self) -> None:
        self.pdf = FPDF(format="A4")
        self.pdf.set_margins(25, 20, 20)
        self.pdf.set_auto_page_break(True, margin=20)
        folder = _font_dir()
        self.unicode = folder is not None
        if folder is not None:
            self.pdf.add_font(_FONT, "", str(folder / "DejaVuSans.ttf"))
            self.pdf.add_font(_FONT, "B", str(folder / "DejaVuSans-Bold.ttf"))
        self.pdf.add_page()

    def text(self, lines: str | list[str], *, size: float = 10.5, bold: bool = False, height: float = 5.2) -> None:
        text = lines if isinstance(lines, str) else "\n".join(line for line in lines if line)
        if not text:
            return
        if self.unicode:
            self.pdf.set_font(_FONT, "B" if bold else "", size)
        else:
            self.pdf.set_font("Helvetica", "B" if bold else "", size)
            text = text.encode("cp1252", "replace").decode("cp1252")
        self.pdf.multi_cell(0, height, text, align="L", new_x="LMARGIN", new_y="NEXT")


def _pdf(letter: Outgoing, today: date) -> bytes:
    words = _WORDS.get(letter.language, _WORDS["en"])
    s = letter.settings
    page = _Letter()
    page.text(letter.tenant_name, size=12, bold=True)
    page.text(s.address_lines)
    page.text([f"{words['phone']} {s.phone}" if s.phone else "", f"{words['email']} {s.email}" if s.email else "",
               f"{words['web']} {s.website}" if s.website else ""], size=9.5, height=4.6)
    page.pdf.ln(12)
    address = letter.customer.get("address") or {}
    town = " ".join(p for p in (address.get("postcode"), address.get("city")) if p)
    page.text([letter.customer.get("name") or "", address.get("street") or "", town])
    page.pdf.ln(12)
    page.text(templating.long_date(today, letter.language))
    page.pdf.ln(5)
    page.text(letter.subject, size=13, bold=True, height=7)
    page.pdf.ln(3)
    page.text(letter.body, size=11, height=5.6)
    link = _first_link(letter.body)
    if link:
        page.pdf.ln(4)
        page.text(words["scan"], size=10)
        page.pdf.image(_qr_png(link), w=38, h=38)
    page.pdf.ln(8)
    page.text(words["closing"], size=11)
    page.pdf.ln(2)
    page.text(letter.tenant_name, size=11)
    return bytes(page.pdf.output())


def _local_day(moment: date | datetime, zone: str | None) -> date:
    if isinstance(moment, datetime):
        return moment.astimezone(ZoneInfo(zone)).date() if zone and moment.tzinfo else moment.date()
    return moment


async def write_letter(letter: Outgoing, folder: Path, today: date | datetime) -> Accepted:
    """Write the PDF (atomically: a half-written letter is never in the folder), dated by the
    tenant's calendar when given the instant."""
    day = _local_day(today, letter.zone)
    path = folder / f"{day.isoformat()}-{letter.message_id}.pdf"
    try:
        content = await asyncio.to_thread(_pdf, letter, day)
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(path)
    except OSError as exc:
        raise SendFailed(f"cannot write the letter to {folder}: {exc}", retryable=True) from exc
    return Accepted("letter", path.name, letter_path=str(path))
