"""Letters a customer can act on without a screen, and messages that say how to reach the
business: the notification service on the real broker and PostgreSQL, the letter read back from
the PDF with pdftotext and its QR code decoded with zxing-cpp."""
import re
import subprocess
from pathlib import Path

import zxingcpp
from PIL import Image

from bookflow_notification.segments import measure

SHORT = "https://boka.pinea.se/l/K7Q2-MX9P-AB3D"
LONG = "https://boka.pinea.se/my/" + "s" * 85


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def qr_codes(pdf: Path, scratch: Path) -> list[str]:
    subprocess.run(["pdftoppm", "-png", "-r", "150", "-singlefile", str(pdf), str(scratch / "page")], check=True)
    return [found.text for found in zxingcpp.read_barcodes(Image.open(scratch / "page.png"))]


async def test_a_notice_letter_has_the_short_link_as_text_and_qr_code_the_business_phone_a_long_date_and_a_closing(office, settings, tmp_path):
    folder = Path(settings.letters_dir) / f"{office.id}-brev"  # the tenant's folder under the letters root
    await office.configure(address_lines=["Storgatan 1", "111 22 Stockholm"])
    await office.announce(letter_folder=folder.name, phone="08-123 45 67", email="kund@pinea.se", website="pinea.se")
    request = await office.send(
        "booking-notice", channels=["letter"], name="Łukasz Şahin", address={"street": "Kyrkvägen 7", "postcode": "123 45", "city": "Nacka"},
        data={"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00", "place": "Kyrkvägen 7, 123 45 Nacka",
              "my_pages_url": LONG, "my_pages_short_url": SHORT},
    )
    await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the letter to be written")
    [pdf] = list(folder.glob("*.pdf"))
    text = pdf_text(pdf)
    for expected in ("Łukasz Şahin", "Hej Łukasz!", "måndag 20 januari kl. 08.00", SHORT, "Telefon 08-123 45 67", "kund@pinea.se",
                     "Med vänliga hälsningar"):
        assert expected in text, f"{expected!r} not in the letter:\n{text}"
    assert "?" not in text.replace(SHORT, "")  # no letter fell out of the font
    assert LONG not in text and f"/Firma {office.id}" not in text  # nobody types a signed link; no SMS signature
    assert re.search(r"^\s*\d{1,2} (januari|februari|mars|april|maj|juni|juli|augusti|september|oktober|november|december) \d{4}\s*$",
                     text, re.MULTILINE), "the letter is dated in Swedish, not ISO"
    assert qr_codes(pdf, tmp_path) == [SHORT]


async def test_a_letter_in_norwegian_closes_in_norwegian_and_without_a_short_link_codes_the_link_it_prints(office, settings, tmp_path):
    folder = Path(settings.letters_dir) / f"{office.id}-brev"
    await office.announce(time_zone="Europe/Oslo", language="nb", letter_folder=folder.name, phone="22 12 34 56")
    request = await office.send(
        "recall", channels=["letter"], purpose="service", name="Øystein Ås", language="nb",
        address={"street": "Storgata 1", "postcode": "0155", "city": "Oslo"},
        data={"service": "tannkontroll", "recall_date": "2031-09-01", "booking_url": "https://pinea.no/bestill"},
    )
    await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the letter to be written")
    [pdf] = list(folder.glob("*.pdf"))
    text = pdf_text(pdf)
    assert "Med vennlig hilsen" in text and "Telefon 22 12 34 56" in text and "Hei Øystein!" in text
    assert re.search(r"^\s*\d{1,2}\. [a-zæøå]+ \d{4}\s*$", text, re.MULTILINE), "a Norwegian date has its dot: 12. januar 2031"
    assert qr_codes(pdf, tmp_path) == ["https://pinea.no/bestill"]


async def test_a_released_booking_tells_the_customer_the_number_the_business_gave(office):
    await office.announce(phone="08-123 45 67")
    request = await office.send("booking-released", phone=office.new_phone(),
                                data={"service": "mätarbyte", "starts_at": "2031-01-20T07:00:00+00:00"})
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the SMS")
    assert message["body"] == (f"Hej Åsa! Din tid för mätarbyte måndag 20 januari kl. 08.00 bekräftades inte och har därför avbokats. "
                               f"Ring oss på 08-123 45 67 så hittar vi en ny tid. /Firma {office.id}")
    assert measure(message["body"]).encoding == "gsm-7"
