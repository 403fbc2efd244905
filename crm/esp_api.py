"""An SMTP source's ESP HTTP API (Postmark, Mailgun, SendGrid, Amazon SES) through django-anymail,
configured from the source's own fields, never from the ANYMAIL settings; and the admin's test
email sent through it. The mass email side is campaigns.sending.esp."""

from email.utils import formataddr

from anymail.exceptions import AnymailError
from django.core.mail import EmailMessage, get_connection
from django.utils.translation import gettext as _

from crm import secrets
from crm.models import EmailAccount, OutboundEmailSettings, SendingMethod
from crm.smtp import SmtpFailure, sender_of

# Seconds an API call may take.
TIMEOUT = 30
BACKENDS = {
    SendingMethod.POSTMARK: "anymail.backends.postmark.EmailBackend",
    SendingMethod.MAILGUN: "anymail.backends.mailgun.EmailBackend",
    SendingMethod.SENDGRID: "anymail.backends.sendgrid.EmailBackend",
    SendingMethod.AMAZON_SES: "anymail.backends.amazon_ses.EmailBackend",
}
MAILGUN_EU = "https://api.eu.mailgun.net/v3"


class EspSettingsError(Exception):
    """The source's ESP settings cannot work as they are; str() says why."""


def backend_for(source: OutboundEmailSettings | EmailAccount, timeout: float = TIMEOUT):
    """An anymail backend for the source's ESP; raises EspSettingsError."""
    method = source.sending_method
    problems = source.esp_problems()
    if problems:
        raise EspSettingsError(
            _("The %(method)s settings are incomplete: %(fields)s")
            % {"method": source.get_sending_method_display(), "fields": ", ".join(problems)}
        )
    try:
        key = source.esp_api_key
    except secrets.SecretUnreadable as exc:
        message = _("The stored API key cannot be read: %(error)s") % {"error": exc}
        raise EspSettingsError(message) from exc
    url = source.esp_api_url.strip()
    options: dict = {"fail_silently": False}
    if method == SendingMethod.POSTMARK:
        options |= {"server_token": key, "requests_timeout": timeout}
    elif method == SendingMethod.MAILGUN:
        options |= {"api_key": key, "sender_domain": source.esp_domain.strip()}
        options["requests_timeout"] = timeout
        if not url and source.esp_region.strip().lower() == "eu":
            url = MAILGUN_EU
    elif method == SendingMethod.SENDGRID:
        options |= {"api_key": key, "requests_timeout": timeout}
    else:
        client = {
            "region_name": source.esp_region.strip(),
            "aws_access_key_id": source.esp_access_key_id.strip(),
            "aws_secret_access_key": key,
            "config": {
                "connect_timeout": timeout,
                "read_timeout": timeout,
                "retries": {"mode": "standard", "total_max_attempts": 1},
            },
        }
        if url:
            client["endpoint_url"] = url
        options["client_params"] = client
        url = ""
    if url:
        options["api_url"] = url
    try:
        return get_connection(BACKENDS[method], **options)
    except (AnymailError, ImportError) as exc:
        raise EspSettingsError(
            _("The %(method)s API cannot be used: %(error)s")
            % {"method": source.get_sending_method_display(), "error": exc}
        ) from exc


def send_test_email(source: OutboundEmailSettings | EmailAccount, to_address: str) -> None:
    """Send a short test message through the source's ESP API; raises SmtpFailure with the
    ESP's words (as crm.smtp.send_test_email does for SMTP)."""
    from_address, from_name = sender_of(source)
    method = source.get_sending_method_display()
    message = EmailMessage(
        subject=_("Test email from Mass Email"),
        body=_("This is a test email. The %(method)s settings work.") % {"method": method},
        from_email=formataddr((from_name, from_address)) if from_address else None,
        to=[to_address],
    )
    try:
        backend = backend_for(source)
        backend.send_messages([message])
    except EspSettingsError as exc:
        raise SmtpFailure(str(exc)) from exc
    except AnymailError as exc:
        words = " ".join(str(exc).split())[:500]
        raise SmtpFailure(_("The ESP refused it: %(words)s") % {"words": words}) from exc
