"""E-mail over SMTP with aiosmtplib, to the tenant's mail server; without one, to the sandbox (which
the dispatcher only lets happen in development mode)."""
from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from bookflow_notification.channels import Accepted, Outgoing, SendFailed


async def send_email(mail: Outgoing, timeout: float) -> Accepted:
    """Hand the message to the tenant's SMTP server. Its acceptance is the last news SMTP gives,
    so an accepted e-mail counts as delivered. 4xx answers and lost connections are retried."""
    smtp = mail.settings.smtp
    if smtp is None:
        return Accepted("sandbox", f"sandbox-{mail.message_id}", delivered=True, sandbox=True)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = smtp.sender, mail.to, mail.subject
    message_id = make_msgid(idstring=str(mail.message_id), domain=smtp.sender.rpartition("@")[2].strip("> ") or None)
    message["Message-ID"] = message_id
    if mail.settings.inbound_email:  # answers go where they are received (webhooks.py, Mailgun)
        message["Reply-To"] = mail.settings.inbound_email.address
    message.set_content(mail.body)
    try:
        await aiosmtplib.send(
            message, hostname=smtp.host, port=smtp.port, username=smtp.username, password=smtp.password,
            start_tls=smtp.starttls if not smtp.use_tls else False, use_tls=smtp.use_tls, timeout=timeout,
        )
    except aiosmtplib.SMTPResponseException as exc:
        raise SendFailed(f"SMTP server answered {exc.code}: {exc.message}", retryable=400 <= exc.code < 500) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SendFailed(f"SMTP server cannot be reached: {exc!r}", retryable=True) from exc
    return Accepted("smtp", message_id, delivered=True)
