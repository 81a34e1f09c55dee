"""The default text of every message the flows send (bookflow_contracts.templates.TEMPLATES), in
Swedish, Norwegian (bokmål), Danish, Dutch and English: (subject, body) by template key and language.

A tenant's saved template for a channel and language replaces the default. One text serves SMS,
e-mail and letters: `channel` picks the sign-off (an SMS signs "/Acme" or "Hilsen Acme", an
e-mail closes like a letter, and a letter gets its closing from the letter layout) and the
opt-out line of marketing messages (book-again, recall), which by SMS is "reply STOP".
Times go through the `datetime`, `date` and `time` filters, which write them in the tenant's
zone and the customer's language ("tisdag 12 januari kl. 08.00"). How to reach the business
comes from `tenant.phone`, `tenant.email` and `tenant.website`, when the tenant has given them.

Wording follows the seeds where they have it (000 and 003 Swedish, 002 Norwegian, 004 Danish,
001 Dutch): "bekräfta eller boka om", "Mina sidor"; "bestilt", "kansellert" for what the business
cancels; "genindkald"-style invitations; "u" in Dutch with "Beste". Every text stays inside the
GSM 03.38 alphabet, so an SMS costs 160/153 characters a segment (test_every_word.py checks it,
and the README's table of messages lists what each SMS costs).

The reply words customers send back (B3) follow the language: "OK" accepts everywhere; "KONTAKT"
(sv, nb, da), "CONTACT" (nl) and "CALL" (en) ask to be called. The booking service accepts only
"OK" and sends every other answer to a person (`reply_transition`), so each of them works.
"""

from __future__ import annotations

LANGUAGES = ("sv", "nb", "da", "nl", "en")

# The greeting: the first name where there is one ("Hej Åsa!"), else none at all ("Hej!").
_HI = {
    "sv": "Hej{% if customer.first_name %} {{ customer.first_name }}{% endif %}!",
    "nb": "Hei{% if customer.first_name %} {{ customer.first_name }}{% endif %}!",
    "da": "Hej{% if customer.first_name %} {{ customer.first_name }}{% endif %}!",
    "nl": "{% if customer.first_name %}Beste {{ customer.first_name }},{% else %}Beste klant,{% endif %}",
    "en": "Hi{% if customer.first_name %} {{ customer.first_name }}{% endif %},",
}

# The sign-off: short in an SMS, a letter's closing in an e-mail, nothing on a letter (the letter
# layout prints its own closing above the business's name).
_CLOSING = {
    "sv": "Med vänliga hälsningar", "nb": "Med vennlig hilsen", "da": "Med venlig hilsen",
    "nl": "Met vriendelijke groet", "en": "Kind regards",
}
_SMS_SIGN = {
    "sv": " /{{ tenant.name }}", "nb": " Hilsen {{ tenant.name }}", "da": " Venlig hilsen {{ tenant.name }}",
    "nl": " Groet, {{ tenant.name }}", "en": " Kind regards, {{ tenant.name }}",
}


def _sign(language: str) -> str:
    return ('{% if channel == "sms" %}' + _SMS_SIGN[language] + '{% elif channel == "email" %}\n\n'
            + _CLOSING[language] + "\n{{ tenant.name }}{% endif %}")


# "Call us on …": the phone, else the e-mail address, else just "get in touch".
_CONTACT = {
    "sv": "{% if tenant.phone %}Ring oss på {{ tenant.phone }}{% elif tenant.email %}Mejla oss på {{ tenant.email }}"
          "{% else %}Hör av dig till oss{% endif %}",
    "nb": "{% if tenant.phone %}Ring oss på {{ tenant.phone }}{% elif tenant.email %}Send oss en e-post til {{ tenant.email }}"
          "{% else %}Ta kontakt med oss{% endif %}",
    "da": "{% if tenant.phone %}Ring til os på {{ tenant.phone }}{% elif tenant.email %}Skriv til os på {{ tenant.email }}"
          "{% else %}Kontakt os{% endif %}",
    "nl": "{% if tenant.phone %}Bel ons op {{ tenant.phone }}{% elif tenant.email %}Mail ons op {{ tenant.email }}"
          "{% else %}Neem contact met ons op{% endif %}",
    "en": "{% if tenant.phone %}Call us on {{ tenant.phone }}{% elif tenant.email %}Email us at {{ tenant.email }}"
          "{% else %}Get in touch{% endif %}",
}

# Marketing messages say how to stop them: by SMS a reply word the notification service knows
# (domain.STOP_WORDS), elsewhere by telling the business.
_OPT_OUT = {
    "sv": '{% if channel == "sms" %} Svara STOPP om du inte vill få fler påminnelser.'
          "{% else %} Vill du inte få fler påminnelser? Hör av dig till oss, så tar vi bort dig.{% endif %}",
    "nb": '{% if channel == "sms" %} Svar STOPP hvis du ikke vil ha flere påminnelser.'
          "{% else %} Vil du ikke ha flere påminnelser? Gi oss beskjed, så fjerner vi deg fra listen.{% endif %}",
    "da": '{% if channel == "sms" %} Svar STOP, hvis du ikke vil have flere påmindelser.'
          "{% else %} Vil du ikke have flere påmindelser? Giv os besked, så fjerner vi dig fra listen.{% endif %}",
    "nl": '{% if channel == "sms" %} Geen herinneringen meer? Stuur STOP.'
          "{% else %} Wilt u geen herinneringen meer ontvangen? Laat het ons weten, dan halen wij u van de lijst.{% endif %}",
    "en": '{% if channel == "sms" %} Reply STOP to opt out.'
          "{% else %} If you would rather not hear from us about this, let us know and we will take you off the list.{% endif %}",
}

_PLACE = "{% if place %}, {{ place|address }}{% endif %}"
_REPLY_TO = {  # "by SMS to +46…", when the tenant has a number to answer to
    "sv": "{% if reply_number %} till {{ reply_number }}{% endif %}",
    "nb": "{% if reply_number %} til {{ reply_number }}{% endif %}",
    "da": "{% if reply_number %} til {{ reply_number }}{% endif %}",
    "nl": "{% if reply_number %} naar {{ reply_number }}{% endif %}",
    "en": "{% if reply_number %} to {{ reply_number }}{% endif %}",
}


def _texts(**by_language: tuple[str, str]) -> dict[str, tuple[str, str]]:
    """Each language's (subject, body), the body signed off for its channel."""
    return {language: (subject, body + _sign(language)) for language, (subject, body) in by_language.items()}


DEFAULTS: dict[str, dict[str, tuple[str, str]]] = {
    # A1: the notice, most often a letter (seed 000: "tidpunkt, plats och ... Mina sidor").
    "booking-notice": _texts(
        sv=("Din bokade tid", _HI["sv"] + " Din tid för {{ service }} är bokad till {{ starts_at|datetime }}" + _PLACE + "."
            "{% if my_pages_url %} Bekräfta tiden eller boka om på Mina sidor: {{ my_pages_url }}{% endif %}"),
        nb=("Timen din", _HI["nb"] + " Timen din for {{ service }} er bestilt til {{ starts_at|datetime }}" + _PLACE + "."
            "{% if my_pages_url %} Bekreft eller endre timen på Mine sider: {{ my_pages_url }}{% endif %}"),
        da=("Din tid", _HI["da"] + " Du er booket til {{ service }} {{ starts_at|datetime }}" + _PLACE + "."
            "{% if my_pages_url %} Bekræft eller flyt tiden på Mine sider: {{ my_pages_url }}{% endif %}"),
        nl=("Uw afspraak", _HI["nl"] + " u heeft een afspraak voor {{ service }} op {{ starts_at|datetime }}" + _PLACE + "."
            "{% if my_pages_url %} Bevestig of verzet deze op Mijn pagina: {{ my_pages_url }}{% endif %}"),
        en=("Your appointment", _HI["en"] + " your {{ service }} is booked for {{ starts_at|datetime }}" + _PLACE + "."
            "{% if my_pages_url %} Please confirm or rebook on My pages: {{ my_pages_url }}{% endif %}"),
    ),
    # A3: still unconfirmed; says by when it is otherwise cancelled (A4).
    "confirm-reminder": _texts(
        sv=("Bekräfta din tid", _HI["sv"] + " Du har inte bekräftat din tid för {{ service }} {{ starts_at|datetime }}. "
            "Bekräfta eller boka om{% if cancel_at %} senast {{ cancel_at|datetime }}{% endif %}, annars avbokas tiden: {{ my_pages_url }}"),
        nb=("Bekreft timen din", _HI["nb"] + " Du har ikke bekreftet timen for {{ service }} {{ starts_at|datetime }}. "
            "Bekreft eller endre timen{% if cancel_at %} innen {{ cancel_at|datetime }}{% endif %}, ellers blir den kansellert: {{ my_pages_url }}"),
        da=("Bekræft din tid", _HI["da"] + " Du har endnu ikke bekræftet din tid til {{ service }} {{ starts_at|datetime }}. "
            "Bekræft eller flyt tiden{% if cancel_at %} senest {{ cancel_at|datetime }}{% endif %}, ellers bliver den aflyst: {{ my_pages_url }}"),
        nl=("Bevestig uw afspraak", _HI["nl"] + " u heeft uw afspraak voor {{ service }} op {{ starts_at|datetime }} nog niet bevestigd. "
            "Bevestig of verzet de afspraak{% if cancel_at %} uiterlijk {{ cancel_at|datetime }}{% endif %}, anders wordt deze geannuleerd: {{ my_pages_url }}"),
        en=("Please confirm your appointment", _HI["en"] + " you have not yet confirmed your {{ service }} on {{ starts_at|datetime }}. "
            "Please confirm or rebook{% if cancel_at %} by {{ cancel_at|datetime }}{% endif %}, or it will be cancelled: {{ my_pages_url }}"),
    ),
    # A4: released at the deadline; says how to get a new time.
    "booking-released": _texts(
        sv=("Din tid är avbokad", _HI["sv"] + " Din tid för {{ service }} {{ starts_at|datetime }} bekräftades inte och har därför avbokats. "
            + _CONTACT["sv"] + " så hittar vi en ny tid."),
        nb=("Timen din er kansellert", _HI["nb"] + " Timen din for {{ service }} {{ starts_at|datetime }} ble ikke bekreftet og er derfor kansellert. "
            + _CONTACT["nb"] + ", så finner vi en ny time."),
        da=("Din tid er aflyst", _HI["da"] + " Din tid til {{ service }} {{ starts_at|datetime }} blev ikke bekræftet og er derfor aflyst. "
            + _CONTACT["da"] + ", så finder vi en ny tid."),
        nl=("Uw afspraak is geannuleerd", _HI["nl"] + " uw afspraak voor {{ service }} op {{ starts_at|datetime }} is niet bevestigd en daarom geannuleerd. "
            + _CONTACT["nl"] + " voor een nieuwe afspraak."),
        en=("Your appointment has been cancelled", _HI["en"] + " your {{ service }} on {{ starts_at|datetime }} was not confirmed, so we have cancelled it. "
            + _CONTACT["en"] + " to book a new time."),
    ),
    # B2: the technician comes to the customer; answer with the code (seed 002).
    "order-letter": _texts(
        sv=("Vi kommer och utför {{ service }}", _HI["sv"] + " Vi kommer och utför {{ service }} {{ starts_at|datetime }}" + _PLACE + ". "
            "Svara med sms" + _REPLY_TO["sv"] + ": {{ booking_code }} OK om tiden passar, eller {{ booking_code }} KONTAKT så ringer vi upp dig."),
        nb=("Vi kommer og utfører {{ service }}", _HI["nb"] + " Vi kommer og utfører {{ service }} {{ starts_at|datetime }}" + _PLACE + ". "
            "Svar med SMS" + _REPLY_TO["nb"] + ": {{ booking_code }} OK hvis tidspunktet passer, eller {{ booking_code }} KONTAKT hvis du vil at vi skal ringe deg."),
        da=("Vi kommer og udfører {{ service }}", _HI["da"] + " Vi kommer og udfører {{ service }} {{ starts_at|datetime }}" + _PLACE + ". "
            "Svar med sms" + _REPLY_TO["da"] + ": {{ booking_code }} OK, hvis tiden passer, eller {{ booking_code }} KONTAKT, så ringer vi dig op."),
        nl=("Afspraak voor {{ service }}", _HI["nl"] + " wij komen op {{ starts_at|datetime }} voor {{ service }}" + _PLACE + ". "
            "Stuur een sms" + _REPLY_TO["nl"] + " met {{ booking_code }} OK als dit tijdstip u past, of met {{ booking_code }} CONTACT, dan bellen wij u."),
        en=("Your {{ service }} appointment", _HI["en"] + " we will come to carry out your {{ service }} on {{ starts_at|datetime }}" + _PLACE + ". "
            "Please text {{ booking_code }} OK" + _REPLY_TO["en"] + " if the time suits you, or {{ booking_code }} CALL and we will call you."),
    ),
    # B4: no answer in time.
    "booking-reminder": _texts(
        sv=("Vi väntar på ditt svar", _HI["sv"] + " Vi har inte fått något svar från dig om {{ service }} {{ starts_at|datetime }}. "
            "Svara med sms" + _REPLY_TO["sv"] + ": {{ booking_code }} OK om tiden passar, eller {{ booking_code }} KONTAKT så ringer vi upp dig."),
        nb=("Vi venter på svar fra deg", _HI["nb"] + " Vi har ikke mottatt svar fra deg om {{ service }} {{ starts_at|datetime }}. "
            "Svar med SMS" + _REPLY_TO["nb"] + ": {{ booking_code }} OK hvis tidspunktet passer, eller {{ booking_code }} KONTAKT hvis du vil at vi skal ringe deg."),
        da=("Vi mangler dit svar", _HI["da"] + " Vi har ikke fået svar fra dig om {{ service }} {{ starts_at|datetime }}. "
            "Svar med sms" + _REPLY_TO["da"] + ": {{ booking_code }} OK, hvis tiden passer, eller {{ booking_code }} KONTAKT, så ringer vi dig op."),
        nl=("Wij wachten op uw antwoord", _HI["nl"] + " wij hebben nog geen antwoord van u ontvangen over {{ service }} op {{ starts_at|datetime }}. "
            "Stuur een sms" + _REPLY_TO["nl"] + " met {{ booking_code }} OK als dit tijdstip u past, of met {{ booking_code }} CONTACT, dan bellen wij u."),
        en=("We are waiting for your reply", _HI["en"] + " we have not received your reply about your {{ service }} on {{ starts_at|datetime }}. "
            "Please text {{ booking_code }} OK" + _REPLY_TO["en"] + " if the time suits you, or {{ booking_code }} CALL and we will call you."),
    ),
    # B6: the day before (seed 002 "avtalepåminnelse"). The technician comes to the customer, so no
    # "welcome"; and no "tomorrow", which a message held by quiet hours or sent late would get wrong.
    "appointment-reminder": _texts(
        sv=("Påminnelse om {{ service }}", _HI["sv"] + " Vi vill påminna om att vi kommer och utför {{ service }} {{ starts_at|datetime }}" + _PLACE + ". "
            "Passar tiden inte längre? " + _CONTACT["sv"] + "."),
        nb=("Påminnelse om {{ service }}", _HI["nb"] + " Vi minner om at vi kommer og utfører {{ service }} {{ starts_at|datetime }}" + _PLACE + ". "
            "Passer ikke tidspunktet likevel? " + _CONTACT["nb"] + "."),
        da=("Påmindelse om {{ service }}", _HI["da"] + " Vi minder om, at vi kommer og udfører {{ service }} {{ starts_at|datetime }}" + _PLACE + ". "
            "Passer tiden alligevel ikke? " + _CONTACT["da"] + "."),
        nl=("Herinnering: {{ service }}", _HI["nl"] + " ter herinnering: wij komen op {{ starts_at|datetime }} voor {{ service }}" + _PLACE + ". "
            "Komt het toch niet uit? " + _CONTACT["nl"] + "."),
        en=("Reminder: your {{ service }}", _HI["en"] + " this is a reminder that we will come to carry out your {{ service }} on {{ starts_at|datetime }}" + _PLACE + ". "
            "If the time no longer suits you, {% if tenant.phone %}please call us on {{ tenant.phone }}{% elif tenant.email %}"
            "please email us at {{ tenant.email }}{% else %}please get in touch{% endif %}."),
    ),
    # B7: the planner agreed a time with the customer and confirms it by SMS.
    "booking-confirmation": _texts(
        sv=("Bokningsbekräftelse", _HI["sv"] + " Vi bekräftar att vi kommer och utför {{ service }} {{ starts_at|datetime }}" + _PLACE + "."),
        nb=("Bekreftelse på avtalen", _HI["nb"] + " Vi bekrefter at vi kommer og utfører {{ service }} {{ starts_at|datetime }}" + _PLACE + "."),
        da=("Bekræftelse af aftalen", _HI["da"] + " Vi bekræfter, at vi kommer og udfører {{ service }} {{ starts_at|datetime }}" + _PLACE + "."),
        nl=("Bevestiging van uw afspraak", _HI["nl"] + " hierbij bevestigen wij dat wij op {{ starts_at|datetime }} komen voor {{ service }}" + _PLACE + "."),
        en=("Your appointment is confirmed", _HI["en"] + " this confirms that we will come to carry out your {{ service }} on {{ starts_at|datetime }}" + _PLACE + "."),
    ),
    # C1: online check-in before a workshop visit (seed 001).
    "checkin-link": _texts(
        sv=("Checka in inför ditt besök", _HI["sv"] + " Inför ditt besök för {{ service }} {{ starts_at|datetime }} kan du checka in online och se det planerade arbetet: {{ checkin_url }}"),
        nb=("Sjekk inn før besøket", _HI["nb"] + " Før besøket ditt for {{ service }} {{ starts_at|datetime }} kan du sjekke inn på nett og se det planlagte arbeidet: {{ checkin_url }}"),
        da=("Tjek ind før dit besøg", _HI["da"] + " Før dit besøg til {{ service }} {{ starts_at|datetime }} kan du tjekke ind online og se det planlagte arbejde: {{ checkin_url }}"),
        nl=("Online inchecken", _HI["nl"] + " u heeft op {{ starts_at|datetime }} een afspraak voor {{ service }}. "
            "Check alvast online in en bekijk de werkzaamheden: {{ checkin_url }}"),
        en=("Check in online", _HI["en"] + " before your {{ service }} on {{ starts_at|datetime }} you can check in online and see the planned work: {{ checkin_url }}"),
    ),
    # D2: book again (seed 003); marketing, so it says how to stop.
    "book-again": _texts(
        sv=("Dags att boka igen?", _HI["sv"] + " Är det dags för {{ service }} igen? Boka din nästa tid enkelt här: {{ booking_url }}" + _OPT_OUT["sv"]),
        nb=("På tide å bestille igjen?", _HI["nb"] + " Er det på tide med {{ service }} igjen? Bestill neste time enkelt her: {{ booking_url }}" + _OPT_OUT["nb"]),
        da=("Tid til at booke igen?", _HI["da"] + " Er det tid til {{ service }} igen? Book din næste tid her: {{ booking_url }}" + _OPT_OUT["da"]),
        nl=("Tijd voor een nieuwe afspraak?", _HI["nl"] + " is het weer tijd voor {{ service }}? Maak eenvoudig een nieuwe afspraak: {{ booking_url }}" + _OPT_OUT["nl"]),
        en=("Time to book again?", _HI["en"] + " is it time for your {{ service }} again? Book your next appointment here: {{ booking_url }}" + _OPT_OUT["en"]),
    ),
    # E4: the recall invites the customer to book; no time is booked yet (seed 004, "genindkald").
    "recall": _texts(
        sv=("Dags att boka {{ service }}", _HI["sv"] + " Snart är det dags för {{ service }} igen. Boka en tid som passar dig: {{ booking_url }}" + _OPT_OUT["sv"]),
        nb=("På tide å bestille {{ service }}", _HI["nb"] + " Snart er det tid for {{ service }} igjen. Bestill en time som passer deg: {{ booking_url }}" + _OPT_OUT["nb"]),
        da=("Tid til at booke {{ service }}", _HI["da"] + " Snart er det tid til {{ service }} igen. Book en tid, der passer dig: {{ booking_url }}" + _OPT_OUT["da"]),
        nl=("Tijd voor {{ service }}", _HI["nl"] + " binnenkort is het weer tijd voor {{ service }}. Plan een afspraak wanneer het u uitkomt: {{ booking_url }}" + _OPT_OUT["nl"]),
        en=("Time to book your {{ service }}", _HI["en"] + " your {{ service }} is due soon. Book a time that suits you: {{ booking_url }}" + _OPT_OUT["en"]),
    ),
}
