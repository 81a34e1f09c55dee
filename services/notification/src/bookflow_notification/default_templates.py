"""The default text of every message the flows send (bookflow_contracts.templates.TEMPLATES), in
Swedish, Norwegian, Danish, Dutch and English: (subject, body) by template key and language.

A tenant's saved template for a channel and language replaces the default. Bodies are short
enough for SMS and serve e-mail and letters too. Times go through the `datetime`, `date` and
`time` filters, which write them in the tenant's zone and the customer's language.
"""

from __future__ import annotations

LANGUAGES = ("sv", "nb", "da", "nl", "en")

_SIGN = " /{{ tenant.name }}"

DEFAULTS: dict[str, dict[str, tuple[str, str]]] = {
    "booking-notice": {
        "sv": ("Din bokning", "Hej {{ customer.name }}, din tid för {{ service }} är bokad {{ starts_at|datetime }}"
               "{% if place %}, {{ place|address }}{% endif %}.{% if my_pages_url %} Bekräfta eller boka om på Mina sidor: {{ my_pages_url }}{% endif %}" + _SIGN),
        "nb": ("Din avtale", "Hei {{ customer.name }}, din time for {{ service }} er booket {{ starts_at|datetime }}"
               "{% if place %}, {{ place|address }}{% endif %}.{% if my_pages_url %} Bekreft eller endre på Mine sider: {{ my_pages_url }}{% endif %}" + _SIGN),
        "da": ("Din aftale", "Hej {{ customer.name }}, din tid til {{ service }} er booket {{ starts_at|datetime }}"
               "{% if place %}, {{ place|address }}{% endif %}.{% if my_pages_url %} Bekræft eller flyt tiden på Mine sider: {{ my_pages_url }}{% endif %}" + _SIGN),
        "nl": ("Uw afspraak", "Hallo {{ customer.name }}, uw afspraak voor {{ service }} staat op {{ starts_at|datetime }}"
               "{% if place %}, {{ place|address }}{% endif %}.{% if my_pages_url %} Bevestig of verzet via Mijn pagina: {{ my_pages_url }}{% endif %}" + _SIGN),
        "en": ("Your booking", "Hello {{ customer.name }}, your {{ service }} is booked for {{ starts_at|datetime }}"
               "{% if place %}, {{ place|address }}{% endif %}.{% if my_pages_url %} Confirm or rebook on My pages: {{ my_pages_url }}{% endif %}" + _SIGN),
    },
    "confirm-reminder": {
        "sv": ("Bekräfta din tid", "Påminnelse: bekräfta din tid för {{ service }} {{ starts_at|datetime }}, annars avbokas den. {{ my_pages_url }}" + _SIGN),
        "nb": ("Bekreft timen din", "Påminnelse: bekreft timen for {{ service }} {{ starts_at|datetime }}, ellers blir den avbestilt. {{ my_pages_url }}" + _SIGN),
        "da": ("Bekræft din tid", "Påmindelse: bekræft din tid til {{ service }} {{ starts_at|datetime }}, ellers aflyses den. {{ my_pages_url }}" + _SIGN),
        "nl": ("Bevestig uw afspraak", "Herinnering: bevestig uw afspraak voor {{ service }} op {{ starts_at|datetime }}, anders vervalt deze. {{ my_pages_url }}" + _SIGN),
        "en": ("Please confirm", "Reminder: please confirm your {{ service }} on {{ starts_at|datetime }}, or it will be cancelled. {{ my_pages_url }}" + _SIGN),
    },
    "booking-released": {
        "sv": ("Tiden är avbokad", "Din tid för {{ service }} {{ starts_at|datetime }} bekräftades inte och har avbokats. Kontakta oss för en ny tid." + _SIGN),
        "nb": ("Timen er avbestilt", "Timen din for {{ service }} {{ starts_at|datetime }} ble ikke bekreftet og er avbestilt. Kontakt oss for en ny time." + _SIGN),
        "da": ("Tiden er aflyst", "Din tid til {{ service }} {{ starts_at|datetime }} blev ikke bekræftet og er aflyst. Kontakt os for en ny tid." + _SIGN),
        "nl": ("Afspraak vervallen", "Uw afspraak voor {{ service }} op {{ starts_at|datetime }} is niet bevestigd en vervallen. Neem contact op voor een nieuwe afspraak." + _SIGN),
        "en": ("Booking cancelled", "Your {{ service }} on {{ starts_at|datetime }} was not confirmed and has been cancelled. Contact us for a new time." + _SIGN),
    },
    "order-letter": {
        "sv": ("Bokning av {{ service }}", "Hej {{ customer.name }}, vi kommer för {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. "
               "Svara med SMS till {{ reply_number }}: {{ booking_code }} OK om tiden passar, eller {{ booking_code }} KONTAKT så ringer vi upp." + _SIGN),
        "nb": ("Booking av {{ service }}", "Hei {{ customer.name }}, vi kommer for {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. "
               "Svar med SMS til {{ reply_number }}: {{ booking_code }} OK hvis tiden passer, eller {{ booking_code }} KONTAKT så ringer vi deg." + _SIGN),
        "da": ("Booking af {{ service }}", "Hej {{ customer.name }}, vi kommer til {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. "
               "Svar med SMS til {{ reply_number }}: {{ booking_code }} OK hvis tiden passer, eller {{ booking_code }} KONTAKT så ringer vi." + _SIGN),
        "nl": ("Afspraak voor {{ service }}", "Hallo {{ customer.name }}, wij komen voor {{ service }} op {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. "
               "Antwoord per SMS naar {{ reply_number }}: {{ booking_code }} OK als het past, of {{ booking_code }} KONTAKT en wij bellen u." + _SIGN),
        "en": ("Appointment for {{ service }}", "Hello {{ customer.name }}, we will come for {{ service }} on {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. "
               "Reply by SMS to {{ reply_number }}: {{ booking_code }} OK if the time suits you, or {{ booking_code }} KONTAKT and we will call you." + _SIGN),
    },
    "booking-reminder": {
        "sv": ("Påminnelse", "Vi har inte fått ditt svar om {{ service }} {{ starts_at|datetime }}. Svara {{ booking_code }} OK eller {{ booking_code }} KONTAKT till {{ reply_number }}." + _SIGN),
        "nb": ("Påminnelse", "Vi har ikke fått svar om {{ service }} {{ starts_at|datetime }}. Svar {{ booking_code }} OK eller {{ booking_code }} KONTAKT til {{ reply_number }}." + _SIGN),
        "da": ("Påmindelse", "Vi har ikke fået dit svar om {{ service }} {{ starts_at|datetime }}. Svar {{ booking_code }} OK eller {{ booking_code }} KONTAKT til {{ reply_number }}." + _SIGN),
        "nl": ("Herinnering", "Wij hebben uw antwoord over {{ service }} op {{ starts_at|datetime }} niet ontvangen. Antwoord {{ booking_code }} OK of {{ booking_code }} KONTAKT naar {{ reply_number }}." + _SIGN),
        "en": ("Reminder", "We have not had your answer about {{ service }} on {{ starts_at|datetime }}. Reply {{ booking_code }} OK or {{ booking_code }} KONTAKT to {{ reply_number }}." + _SIGN),
    },
    "appointment-reminder": {
        "sv": ("Välkommen i morgon", "Påminnelse: {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. Välkommen!" + _SIGN),
        "nb": ("Velkommen i morgen", "Påminnelse: {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. Velkommen!" + _SIGN),
        "da": ("Velkommen i morgen", "Påmindelse: {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. Velkommen!" + _SIGN),
        "nl": ("Tot morgen", "Herinnering: {{ service }} op {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. Tot dan!" + _SIGN),
        "en": ("See you tomorrow", "Reminder: {{ service }} on {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %}. See you then!" + _SIGN),
    },
    "booking-confirmation": {
        "sv": ("Bokningsbekräftelse", "Din tid för {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %} är bekräftad." + _SIGN),
        "nb": ("Bookingbekreftelse", "Timen din for {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %} er bekreftet." + _SIGN),
        "da": ("Bookingbekræftelse", "Din tid til {{ service }} {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %} er bekræftet." + _SIGN),
        "nl": ("Bevestiging", "Uw afspraak voor {{ service }} op {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %} is bevestigd." + _SIGN),
        "en": ("Booking confirmed", "Your {{ service }} on {{ starts_at|datetime }}{% if place %}, {{ place|address }}{% endif %} is confirmed." + _SIGN),
    },
    "checkin-link": {
        "sv": ("Checka in inför besöket", "Inför {{ service }} {{ starts_at|datetime }}: checka in och se arbetet här: {{ checkin_url }}" + _SIGN),
        "nb": ("Sjekk inn før besøket", "Før {{ service }} {{ starts_at|datetime }}: sjekk inn og se arbeidet her: {{ checkin_url }}" + _SIGN),
        "da": ("Tjek ind før besøget", "Før {{ service }} {{ starts_at|datetime }}: tjek ind og se arbejdet her: {{ checkin_url }}" + _SIGN),
        "nl": ("Online inchecken", "Voor {{ service }} op {{ starts_at|datetime }}: check online in en bekijk de werkzaamheden: {{ checkin_url }}" + _SIGN),
        "en": ("Check in online", "Before your {{ service }} on {{ starts_at|datetime }}: check in and see the planned work here: {{ checkin_url }}" + _SIGN),
    },
    "book-again": {
        "sv": ("Dags att boka igen", "Hej {{ customer.name }}! Dags för {{ service }} igen? Boka enkelt här: {{ booking_url }}" + _SIGN),
        "nb": ("På tide å bestille igjen", "Hei {{ customer.name }}! På tide med {{ service }} igjen? Bestill enkelt her: {{ booking_url }}" + _SIGN),
        "da": ("Tid til at booke igen", "Hej {{ customer.name }}! Tid til {{ service }} igen? Book nemt her: {{ booking_url }}" + _SIGN),
        "nl": ("Tijd voor een nieuwe afspraak", "Hallo {{ customer.name }}! Tijd voor {{ service }}? Boek eenvoudig hier: {{ booking_url }}" + _SIGN),
        "en": ("Time to book again", "Hello {{ customer.name }}! Time for {{ service }} again? Book here: {{ booking_url }}" + _SIGN),
    },
    "recall": {
        "sv": ("Dags för {{ service }}", "Hej {{ customer.name }}, det är dags för {{ service }} {{ recall_date|date }}. Boka här: {{ booking_url }}" + _SIGN),
        "nb": ("Tid for {{ service }}", "Hei {{ customer.name }}, det er tid for {{ service }} {{ recall_date|date }}. Bestill her: {{ booking_url }}" + _SIGN),
        "da": ("Tid til {{ service }}", "Hej {{ customer.name }}, det er tid til {{ service }} {{ recall_date|date }}. Book her: {{ booking_url }}" + _SIGN),
        "nl": ("Tijd voor {{ service }}", "Hallo {{ customer.name }}, het is tijd voor {{ service }} op {{ recall_date|date }}. Boek hier: {{ booking_url }}" + _SIGN),
        "en": ("Time for {{ service }}", "Hello {{ customer.name }}, it is time for {{ service }} on {{ recall_date|date }}. Book here: {{ booking_url }}" + _SIGN),
    },
}
