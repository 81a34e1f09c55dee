"""Quiet hours hold SMS until morning in the tenant's zone; e-mail reaches a real local SMTP
server; a letter is a PDF in the tenant's letter folder whose text holds the booking code."""
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller

from bookflow_devstack.infra import free_port
from bookflow_devstack.testing import wait_until

STOCKHOLM = ZoneInfo("Europe/Stockholm")


async def test_an_sms_due_at_23_local_waits_until_08_and_then_goes(office, elks, clock):
    await office.announce("Europe/Stockholm")
    await office.configure(sms_providers=[elks.account("+46766862001")], quiet_hours_start="21:00", quiet_hours_end="08:00")
    number = office.new_phone()
    clock.frozen = datetime(2031, 1, 14, 23, 0, tzinfo=STOCKHOLM)
    try:
        request = await office.send(phone=number)
        held = await office.message_when(request.booking_id, lambda m: m["history"], "the message to be held")
        assert held["status"] == "queued"
        assert held["history"][0]["detail"] == "held for the tenant's quiet hours until 2031-01-15T08:00:00+01:00"
        clock.frozen = datetime(2031, 1, 15, 7, 59, tzinfo=STOCKHOLM)
        reads = clock.reads
        await wait_until(lambda: clock.reads >= reads + 3, what="three dispatcher rounds at 07:59")
        assert elks.to(number) == []
        clock.frozen = datetime(2031, 1, 15, 8, 0, tzinfo=STOCKHOLM)
        [sms] = await wait_until(lambda: elks.to(number), what="the SMS at 08:00")
        sent = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the message to be sent")
        assert datetime.fromisoformat(sent["sent_at"]) == datetime(2031, 1, 15, 8, 0, tzinfo=STOCKHOLM)
    finally:
        clock.frozen = None


class Mailbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(scope="module")
def mail_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield mailbox, controller.port
    controller.stop()


async def test_an_email_reaches_the_tenants_smtp_server(office, mail_server):
    mailbox, port = mail_server
    await office.configure(smtp={"host": "127.0.0.1", "port": port, "starttls": False, "sender": "Verkstan <noreply@verkstan.test>"},
                           inbound_email={"address": "svar@verkstan.test", "signing_key": "k" * 32})
    request = await office.send(channels=["email"], email="asa@example.se", language="nl")
    [mail] = await wait_until(lambda: [m for m in mailbox.messages if m.rcpt_tos == ["asa@example.se"]], what="the e-mail")
    text = mail.content.decode()
    assert "Subject: Uw afspraak" in text
    assert "Reply-To: svar@verkstan.test" in text  # answers go where the service receives them
    assert "Beste =C3=85sa," in text or "Beste Åsa," in text
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "delivered", "the e-mail to be recorded")
    assert (message["channel"], message["provider"]) == ("email", "smtp")


async def test_a_letter_is_a_pdf_in_the_tenants_folder_with_the_code_and_how_to_reply(office, settings):
    folder = Path(settings.letters_dir) / office.id / "brev"
    await office.configure(letter_folder=f"{office.id}/brev", address_lines=["Storgatan 1", "111 22 Stockholm"], reply_number="+46766862002")
    request = await office.send(
        "order-letter", channels=["letter"], address={"street": "Kyrkvägen 7", "postcode": "123 45", "city": "Nacka"},
        data={"service": "målerbytte", "starts_at": "2031-01-20T07:00:00+00:00", "booking_code": "K7Q2MX", "reply_number": "+46766862002"},
    )
    message = await office.message_when(request.booking_id, lambda m: m["status"] == "sent", "the letter to be written")
    [pdf] = list(folder.glob("*.pdf"))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for expected in ("K7Q2MX OK", "K7Q2MX KONTAKT", "+46766862002", "Åsa Öberg", "Kyrkvägen 7", "123 45 Nacka", "Storgatan 1"):
        assert expected in text, f"{expected!r} not in the letter:\n{text}"
    page = await office.client.get(f"/sandbox/letters/{message['id']}")
    assert (page.status_code, page.headers["content-type"]) == (200, "application/pdf")
    assert page.content == Path(pdf).read_bytes()
