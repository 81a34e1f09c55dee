"""Letters as PDF files with fpdf2: one per message, with the tenant's address block, the
customer's address, and the rendered text (which holds the booking code and how to reply where
the template has them), written to the tenant's letter folder."""
from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from fpdf import FPDF

from bookflow_notification.channels import Accepted, Outgoing, SendFailed


def _latin(text: str) -> str:
    # The built-in PDF fonts speak Windows-1252, which holds every Nordic and Dutch letter.
    return text.encode("cp1252", "replace").decode("cp1252")


def _pdf(letter: Outgoing, today: date) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_margins(25, 20, 20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 11)
    pdf.multi_cell(0, 5, _latin("\n".join([letter.tenant_name, *letter.settings.address_lines])), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(15)
    pdf.set_font("Helvetica", "", 11)
    address = letter.customer.get("address") or {}
    town = " ".join(p for p in (address.get("postcode"), address.get("city")) if p)
    block = [letter.customer.get("name") or "", address.get("street") or "", town]
    pdf.multi_cell(0, 5, _latin("\n".join(line for line in block if line)), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(15)
    pdf.cell(0, 5, today.isoformat(), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_font("Helvetica", "B", 13)
    pdf.multi_cell(0, 7, _latin(letter.subject), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 5.5, _latin(letter.body), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


async def write_letter(letter: Outgoing, folder: Path, today: date) -> Accepted:
    """Write the PDF (atomically: a half-written letter is never in the folder)."""
    path = folder / f"{today.isoformat()}-{letter.message_id}.pdf"
    try:
        content = await asyncio.to_thread(_pdf, letter, today)
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(path)
    except OSError as exc:
        raise SendFailed(f"cannot write the letter to {folder}: {exc}", retryable=True) from exc
    return Accepted("letter", path.name, letter_path=str(path))
