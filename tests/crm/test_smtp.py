import pytest

from crm import smtp
from crm.models import EmailAccount, OutboundEmailSettings, Security
from tests.crm.smtp_servers import free_port, running_server, silent_server

pytestmark = pytest.mark.django_db


def system_settings(port: int, **fields) -> OutboundEmailSettings:
    row = OutboundEmailSettings.load()
    row.smtp_host = "127.0.0.1"
    row.smtp_port = port
    row.smtp_security = fields.pop("security", Security.NONE)
    row.from_address = "news@example.com"
    row.from_name = "News"
    for name, value in fields.items():
        setattr(row, name, value)
    row.save()
    return row


def test_it_sends_a_test_email_through_the_system_settings():
    with running_server() as (port, handler):
        smtp.send_test_email(system_settings(port), "admin@example.com")

    [(mail_from, rcpt_tos, _data)] = handler.received
    [message] = handler.messages()
    assert mail_from == "news@example.com"
    assert rcpt_tos == ["admin@example.com"]
    assert message["Subject"] == "Test email from Mass Email"
    assert message["From"] == "News <news@example.com>"


def test_it_sends_from_a_group_email_account():
    with running_server() as (port, handler):
        account = EmailAccount.objects.create(
            name="Sales",
            email_address="sales@example.com",
            use_smtp=True,
            smtp_host="127.0.0.1",
            smtp_port=port,
        )
        smtp.send_test_email(account, "admin@example.com")

    assert handler.received[0][0] == "sales@example.com"


def test_it_says_connection_refused_when_no_server_listens():
    port = free_port()

    with pytest.raises(smtp.SmtpFailure) as failure:
        smtp.send_test_email(system_settings(port), "admin@example.com")

    assert str(failure.value) == (
        f"Connection refused by 127.0.0.1:{port}: no mail server listens there."
    )
    assert failure.value.temporary


def test_it_shows_the_servers_words_when_it_refuses_the_recipient():
    refusals = {"nobody@example.com": "550 5.1.1 No such user here"}
    with running_server(refusals=refusals) as (port, _handler):
        with pytest.raises(smtp.SmtpFailure) as failure:
            smtp.send_test_email(system_settings(port), "nobody@example.com")

    assert "refused the recipient nobody@example.com: 550 5.1.1 No such user here" in str(
        failure.value
    )
    assert failure.value.code == 550
    assert not failure.value.temporary


def test_it_marks_a_4xx_refusal_as_temporary():
    refusals = {"busy@example.com": "451 4.3.0 Try again later"}
    with running_server(refusals=refusals) as (port, _handler):
        with pytest.raises(smtp.SmtpFailure) as failure:
            smtp.send_test_email(system_settings(port), "busy@example.com")

    assert failure.value.temporary
    assert "451 4.3.0 Try again later" in str(failure.value)


def test_it_logs_in_with_the_stored_password():
    with running_server(users={"mailer": "right-password"}) as (port, handler):
        row = system_settings(port, smtp_username="mailer", smtp_password="right-password")
        smtp.send_test_email(row, "admin@example.com")

    assert len(handler.received) == 1


def test_it_reports_a_refused_login_with_the_servers_words():
    with running_server(users={"mailer": "right-password"}) as (port, handler):
        row = system_settings(port, smtp_username="mailer", smtp_password="wrong")
        with pytest.raises(smtp.SmtpFailure) as failure:
            smtp.send_test_email(row, "admin@example.com")

    assert str(failure.value).startswith("The server refused the login: 535")
    assert "Authentication credentials invalid" in str(failure.value)
    assert handler.received == []


def test_it_reports_a_tls_failure_when_ssl_meets_a_plain_server():
    with running_server() as (port, _handler):
        with pytest.raises(smtp.SmtpFailure) as failure:
            smtp.send_test_email(system_settings(port, security=Security.SSL), "a@example.com")

    assert str(failure.value).startswith(f"TLS failed with 127.0.0.1:{port}")


def test_it_reports_a_server_without_starttls():
    with running_server() as (port, _handler):
        row = system_settings(port, security=Security.STARTTLS)
        with pytest.raises(smtp.SmtpFailure) as failure:
            smtp.send_test_email(row, "a@example.com")

    assert "STARTTLS extension not supported" in str(failure.value)


def test_it_reports_a_timeout_when_the_server_never_answers():
    with silent_server() as port:
        with pytest.raises(smtp.SmtpFailure) as failure:
            smtp.open_connection(system_settings(port), timeout=0.2)

    assert str(failure.value) == (f"No answer from 127.0.0.1:{port} within 0.2 seconds (timeout).")
    assert failure.value.temporary


def test_it_reports_a_password_encrypted_with_a_lost_key():
    row = system_settings(free_port(), smtp_username="mailer")
    row.smtp_password_encrypted = "gAAAAABnot-a-token-this-key-made"

    with pytest.raises(smtp.SmtpFailure, match="cannot be read"):
        smtp.open_connection(row)


def test_it_refuses_to_connect_without_a_host():
    row = system_settings(25, smtp_host="")

    with pytest.raises(smtp.SmtpFailure, match="No SMTP host is configured"):
        smtp.open_connection(row)
