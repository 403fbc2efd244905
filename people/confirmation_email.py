"""The double opt-in email: the form's template (or a built-in text) and the signed link,
sent through the system's outbound SMTP settings (crm.smtp)."""

import html
import smtplib
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from campaigns.models import MassEmailSettings
from crm.models import OutboundEmailSettings
from crm.placeholders import header_safe, render_preview
from crm.smtp import failure_from, open_connection
from people.models import SignupConfirmation


def confirmation_url(token: str) -> str:
    site = MassEmailSettings.load().site_url or settings.SITE_URL
    return site.rstrip("/") + reverse("people:confirm", args=[token])


def build_message(confirmation: SignupConfirmation, token: str) -> EmailMessage:
    """The confirmation message to the signup's address."""
    form, lead = confirmation.form, confirmation.lead
    url = confirmation_url(token)
    outbound = OutboundEmailSettings.load()
    with translation.override(form.language or translation.get_language()):
        template = form.confirmation_template
        subject = _("Please confirm your subscription")
        text = _("Please confirm that you want to receive our emails by opening this link:")
        body_html = ""
        if template is not None:
            subject = render_preview(template.subject, lead, html_context=False)
            text = (
                render_preview(template.body_text, lead, html_context=False)
                if (template.body_text)
                else ""
            )
            body_html = render_preview(template.body_html, lead, html_context=True)
        label = _("Confirm my subscription")
    message = EmailMessage()
    message["Subject"] = header_safe(subject)
    message["From"] = formataddr((outbound.from_name, outbound.from_address))
    message["To"] = confirmation.email_address.address
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=outbound.from_address.partition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(f"{text}\n\n{url}\n")
    if body_html:
        link = f'<p><a href="{html.escape(url)}">{html.escape(label)}</a></p>'
        message.add_alternative(f"{body_html}\n{link}\n", subtype="html")
    return message


def send_confirmation(confirmation: SignupConfirmation, token: str) -> None:
    """Send the message; raises crm.smtp.SmtpFailure."""
    outbound = OutboundEmailSettings.load()
    message = build_message(confirmation, token)
    connection = open_connection(outbound)
    try:
        connection.send_message(message, from_addr=outbound.from_address or None)
    except (smtplib.SMTPException, OSError) as exc:
        raise failure_from(
            exc, outbound.smtp_host, outbound.smtp_port, settings.SMTP_TIMEOUT
        ) from exc
    finally:
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()
