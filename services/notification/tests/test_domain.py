"""Channel choice and rendering without I/O."""
import uuid

import pytest

from bookflow_contracts import Address, CustomerSnapshot, SendNotification
from bookflow_notification.domain import CannotRender, choose_channel, render


def request(channels, **customer) -> SendNotification:
    return SendNotification(
        idempotency_key="k", customer=CustomerSnapshot(customer_id=uuid.uuid4(), name="Jan", **customer),
        channels=channels, template_key="booking-notice",
    )


def test_the_first_channel_the_customer_can_be_reached_by_is_chosen():
    assert choose_channel(request(["sms", "email"], email="jan@example.nl")) == ("email", "jan@example.nl")
    assert choose_channel(request(["sms", "email"], phone="+31612345678", email="jan@example.nl")) == ("sms", "+31612345678")
    letter = choose_channel(request(["letter"], address=Address(street="Kerkstraat 1", postcode="1017 GC", city="Amsterdam")))
    assert letter == ("letter", "Jan, Kerkstraat 1, 1017 GC Amsterdam")
    assert choose_channel(request(["sms"], email="jan@example.nl")) is None


def test_templates_render_in_the_customers_language_and_refuse_missing_values():
    data = {"customer": {"name": "Jan"}, "service": "APK", "starts_at": "12 mei 10:00"}
    assert render("booking-notice", "nl", data) == "Hallo Jan, uw afspraak voor APK staat op 12 mei 10:00."
    assert render("booking-notice", "fi", data).startswith("Hello Jan")
    with pytest.raises(CannotRender, match="starts_at"):
        render("booking-notice", "en", {"customer": {"name": "Jan"}, "service": "APK"})


def test_templates_cannot_reach_outside_their_data():
    from bookflow_notification.domain import _env

    with pytest.raises(Exception, match="unsafe|not safely|access"):
        _env.from_string("{{ ''.__class__.__mro__[1].__subclasses__() }}").render()
