"""Every default message in every language, rendered as customers get it with realistic data
(names with ë, ï, Ø, Å; a 20-character service and business name; a 110-character link): it
stays in the GSM 03.38 alphabet unless the customer's own data leaves it, it says what a customer
needs to act, and the README's table of messages shows what each SMS costs."""
from pathlib import Path

import pytest

from bookflow_contracts.templates import TEMPLATES
from bookflow_notification import domain, templating
from bookflow_notification.default_templates import DEFAULTS, LANGUAGES
from bookflow_notification.segments import GSM_BASIC, GSM_EXTENSION, measure

README = Path(__file__).resolve().parents[3] / "README.md"
LINK = "https://boka.bilverkstaden.se/my/" + "x" * (110 - len("https://boka.bilverkstaden.se/my/"))
SERVICE, BUSINESS = "Service och oljebyte", "Bilverkstaden i Ösby"  # 20 characters each
WHERE = {  # (an address, the business's phone) as each country writes them
    "sv": ("Storgatan 1, 111 22 Stockholm", "08-123 45 67"),
    "nb": ("Storgata 1, 0155 Oslo", "22 12 34 56"),
    "da": ("Vestergade 1, 1456 København K", "33 12 34 56"),
    "nl": ("Kerkstraat 1, 1017 GC Amsterdam", "020-123 4567"),
    "en": ("1 High Street, York YO1 7HU", "01904 123456"),
}
EVERYDAY_NAMES = {"sv": "Åsa Öberg", "nb": "Øystein Ås", "da": "Søren Ørsted", "nl": "Jan de Vries", "en": "Sam Taylor"}
NAMES_OUTSIDE_GSM = {"sv": "Zoë Åberg", "nb": "Anaïs Øvrebø", "da": "Ørsted Ïsaksen", "nl": "Noëlle van Dijk", "en": "Chloë Brontë"}


def values(language: str, name: str) -> dict:
    place, phone = WHERE[language]
    return {
        "service": SERVICE, "starts_at": "2027-01-12T07:00:00+00:00", "cancel_at": "2027-01-05T07:00:00+00:00",
        "recall_date": "2027-09-01", "place": place, "my_pages_url": LINK, "my_pages_short_url": "https://boka.bilverkstaden.se/l/K7Q2-MX9P-AB3D",
        "checkin_url": LINK, "booking_url": LINK, "booking_code": "K7Q2MX9P", "reply_number": "+46766862002",
        "booking_id": "3f1c9a6e-0000-4000-8000-000000000001",
        "customer": {"name": name}, "tenant": {"name": BUSINESS, "phone": phone, "email": "info@bilverkstaden.se", "website": "bilverkstaden.se"},
    }


def render(key: str, language: str, name: str, channel: str = "sms") -> templating.Rendered:
    return templating.render(*DEFAULTS[key][language], key, values(language, name), zone="Europe/Stockholm", language=language, channel=channel)


def outside_gsm(text: str) -> set[str]:
    return {ch for ch in text if ch not in GSM_BASIC and ch not in GSM_EXTENSION}


EVERY_TEXT = [(key, language) for key in DEFAULTS for language in LANGUAGES]


@pytest.mark.parametrize(("key", "language"), EVERY_TEXT)
def test_every_default_sms_stays_in_the_gsm_alphabet_unless_the_customers_own_name_leaves_it(key, language):
    everyday = render(key, language, EVERYDAY_NAMES[language])
    assert measure(everyday.body).encoding == "gsm-7", f"{key} ({language}): {sorted(outside_gsm(everyday.body))}"
    unusual = render(key, language, NAMES_OUTSIDE_GSM[language])
    assert outside_gsm(unusual.body) <= outside_gsm(NAMES_OUTSIDE_GSM[language]), "only the name's own letters may cost UCS-2"
    for text in (everyday.subject, everyday.body):
        assert "None" not in text and "{" not in text and "  " not in text and " ." not in text and " ," not in text, text


@pytest.mark.parametrize(("key", "language"), EVERY_TEXT)
def test_every_message_greets_by_first_name_and_signs_off_as_its_channel_does(key, language):
    sms, email, letter = (render(key, language, EVERYDAY_NAMES[language], channel) for channel in ("sms", "email", "letter"))
    if "{{ customer.first_name }}" in DEFAULTS[key][language][1]:
        first = EVERYDAY_NAMES[language].split()[0]
        assert first in sms.body and EVERYDAY_NAMES[language] not in sms.body  # "Hej Åsa!", never the stiff full name
    assert sms.body.endswith(BUSINESS)
    assert email.body.endswith(f"\n{BUSINESS}") and "\n\n" in email.body
    assert not letter.body.endswith(BUSINESS)  # the letter layout closes it
    if "my_pages_short_url" in TEMPLATES[key].placeholders:
        assert LINK not in letter.body and "/l/K7Q2-MX9P-AB3D" in letter.body  # on paper the link is short


def test_a_greeting_never_names_an_organisation_and_never_shouts():
    assert templating.first_name("Åsa Öberg") == "Åsa"
    assert templating.first_name("Jan-Erik de Vries") == "Jan-Erik"
    assert templating.first_name("ÅSA ÖBERG") == "Åsa"
    assert templating.first_name("Brf Solrosen") is None
    assert templating.first_name("Bakkerij de Vries B.V.") is None
    assert templating.first_name("Nordlys AS") is None
    assert templating.first_name("Maria da Silva") == "Maria"
    assert templating.first_name(None) is None
    assert render("booking-notice", "sv", "Brf Solrosen").body.startswith("Hej! Din tid")
    assert render("booking-notice", "nl", "Bakkerij de Vries B.V.").body.startswith("Beste klant, u heeft een afspraak")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_work_order_reminder_neither_welcomes_nor_says_tomorrow(language):
    text = render("appointment-reminder", language, EVERYDAY_NAMES[language])
    words = (text.subject + " " + text.body).casefold()
    for wrong in ("välkommen", "velkommen", "welkom", "welcome", "i morgon", "i morgen", "morgen", "tomorrow"):
        assert wrong not in words, f"{language}: {wrong!r} in {text.body!r}"
    assert WHERE[language][1] in text.body  # whom to call if the time no longer suits


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_cancelled_booking_says_how_to_reach_the_business_and_the_reminder_says_by_when(language):
    released = render("booking-released", language, EVERYDAY_NAMES[language]).body
    assert WHERE[language][1] in released
    reminder = render("confirm-reminder", language, EVERYDAY_NAMES[language]).body
    assert {"sv": "senast tisdag 5 januari kl. 08.00", "nb": "innen tirsdag 5. januar kl. 08.00",
            "da": "senest tirsdag den 5. januar kl. 08.00", "nl": "uiterlijk dinsdag 5 januari om 08:00 uur",
            "en": "by Tuesday 5 January at 08:00"}[language] in reminder


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("key", [k for k, spec in TEMPLATES.items() if spec.purpose == "marketing"])
def test_a_marketing_sms_says_how_to_stop_with_a_word_the_service_understands(key, language):
    body = render(key, language, EVERYDAY_NAMES[language]).body
    [word] = [w.strip(".,") for w in body.split() if w.strip(".,") in ("STOP", "STOPP")]
    assert domain.opt_out_intent(word) == "stop"
    assert "STOP" not in render(key, language, EVERYDAY_NAMES[language], "email").body  # an e-mail answer is no SMS


@pytest.mark.parametrize(("language", "word"), [("sv", "KONTAKT"), ("nb", "KONTAKT"), ("da", "KONTAKT"), ("nl", "CONTACT"), ("en", "CALL")])
def test_the_reply_word_for_a_call_follows_the_language(language, word):
    for key in ("order-letter", "booking-reminder"):
        body = render(key, language, EVERYDAY_NAMES[language]).body
        assert "K7Q2MX9P OK" in body and f"K7Q2MX9P {word}" in body


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_recall_invites_to_book_and_names_no_time(language):
    body = render("recall", language, EVERYDAY_NAMES[language]).body
    assert "08" not in body and "kl." not in body and " uur" not in body and LINK in body


def messages_table() -> str:
    """The README's table: each template's SMS segments per language, with everyday names."""
    lines = ["| template | flow | " + " | ".join(LANGUAGES) + " |", "| --- | --- |" + " --- |" * len(LANGUAGES)]
    for key, spec in TEMPLATES.items():
        counts = [str(measure(render(key, language, EVERYDAY_NAMES[language]).body).segments) for language in LANGUAGES]
        lines.append(f"| `{key}` | {spec.description.split(':')[0]} | " + " | ".join(counts) + " |")
    return "\n".join(lines)


def test_the_readme_table_of_messages_shows_what_each_sms_costs():
    table = messages_table()
    assert table in README.read_text(), f"update the table under README.md's \"Messages\" heading to:\n{table}"
