"""The sandbox page in a real browser (headless Chromium): it shows the SMS a customer got, and
answering it there travels the inbound path to `reply.received`, as a provider's webhook would."""
import shutil

from playwright.async_api import async_playwright

from bookflow_contracts import topics
from bookflow_devstack.testing import envelope_of, header, wait_until

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


async def test_the_sandbox_page_shows_the_sms_and_answering_it_becomes_a_reply(office_served, served, kafka):
    office, (url, client) = office_served, served
    number = office.new_phone()
    await office.send(phone=number)

    async def inbox():
        return (await client.get("/sandbox/messages", params={"tenant_id": office.id})).json()

    await wait_until(inbox, timeout=30, what="the SMS in the sandbox")
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{url}/sandbox?tenant_id={office.id}")
            row = page.locator("tr.message", has_text=number)
            assert (await row.locator(".body").inner_text()).startswith("Hej Åsa! Din tid för mätarbyte är bokad till")
            await row.get_by_placeholder("Answer as the customer").fill("ABC123 OK")
            await row.get_by_role("button", name="Send answer").click()
            answer = page.locator("#replies tr.reply", has_text="ABC123 OK")
            await answer.wait_for(timeout=20_000)
            assert number in await answer.inner_text()
        finally:
            await browser.close()

    async with kafka.reader(topics.REPLY_RECEIVED) as reader:
        [record] = await reader.wait_for(lambda r: header(r, "tenant-id") == office.id, timeout=30)
    reply = envelope_of(record).payload
    assert (reply["sender"], reply["text"], reply["provider"]) == (number, "ABC123 OK", "sandbox")
