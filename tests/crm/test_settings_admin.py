import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from campaigns.models import MassEmailSettings
from crm.models import EmailAccount, JobRun, OutboundEmailSettings
from tests.crm.smtp_servers import free_port, running_server
from tests.factories import UserFactory, group_named

pytestmark = pytest.mark.django_db
PASSWORD = "Pl41ntext-Sekret-Value"
OUTBOUND_URL = reverse("admin:crm_outboundemailsettings_change", args=[1])
TEST_SEND_URL = reverse("admin:crm_outboundemailsettings_send_test_email", args=[1])


def staff_in(group_name: str):
    user = UserFactory(is_staff=True, email="staff@example.com")
    user.groups.add(group_named(group_name))
    return user


@pytest.fixture
def admin_client(client):
    client.force_login(staff_in("Administrators"))
    return client


@pytest.fixture
def marketer_client(client):
    client.force_login(staff_in("Marketing"))
    return client


# The sending capacity fields as a new form shows them (their defaults).
CAPACITY = {"connections": "10", "messages_per_session": "0", "messages_per_second": ""}


def outbound_form(**changes) -> dict:
    data = {
        "smtp_host": "127.0.0.1",
        "smtp_port": "1025",
        "smtp_security": "none",
        "smtp_username": "mailer",
        "smtp_password": "",
        "from_address": "news@example.com",
        "from_name": "News",
        **CAPACITY,
    }
    return {**data, **changes}


def test_it_opens_the_single_settings_row_from_the_list(admin_client):
    response = admin_client.get(reverse("admin:crm_outboundemailsettings_changelist"))

    assert response.status_code == 302
    assert response["Location"] == OUTBOUND_URL
    page = admin_client.get(OUTBOUND_URL)
    assert page.status_code == 200
    assert f'href="{TEST_SEND_URL}"' in page.content.decode()
    assert admin_client.get(reverse("admin:crm_outboundemailsettings_add")).status_code == 403


def test_it_stores_the_password_encrypted_and_keeps_it_when_left_empty(admin_client):
    admin_client.post(OUTBOUND_URL, outbound_form(smtp_password=PASSWORD))
    stored = OutboundEmailSettings.load()
    assert stored.smtp_password == PASSWORD
    assert PASSWORD not in stored.smtp_password_encrypted

    admin_client.post(OUTBOUND_URL, outbound_form(smtp_host="smtp.example.com"))

    stored.refresh_from_db()
    assert stored.smtp_host == "smtp.example.com"
    assert stored.smtp_password == PASSWORD


def test_it_clears_the_password_when_asked(admin_client):
    admin_client.post(OUTBOUND_URL, outbound_form(smtp_password=PASSWORD))

    admin_client.post(OUTBOUND_URL, outbound_form(clear_smtp_password="on"))

    assert OutboundEmailSettings.load().smtp_password_encrypted == ""


def test_it_never_shows_the_password_or_its_ciphertext_on_any_page(admin_client):
    admin_client.post(OUTBOUND_URL, outbound_form(smtp_password=PASSWORD))
    account = EmailAccount.objects.create(name="Bounces", email_address="b@example.com")
    account.smtp_password = PASSWORD
    account.imap_password = PASSWORD
    account.save()
    secrets = [
        PASSWORD,
        OutboundEmailSettings.load().smtp_password_encrypted,
        account.smtp_password_encrypted,
        account.imap_password_encrypted,
    ]
    pages = [
        reverse("admin:index"),
        OUTBOUND_URL,
        reverse("admin:crm_outboundemailsettings_history", args=[1]),
        TEST_SEND_URL,
        reverse("admin:crm_emailaccount_changelist"),
        reverse("admin:crm_emailaccount_change", args=[account.pk]),
        reverse("admin:crm_emailaccount_history", args=[account.pk]),
    ]

    for url in pages:
        html = admin_client.get(url).content.decode()
        for secret in secrets:
            assert secret not in html, url
    assert "A password is stored" in admin_client.get(OUTBOUND_URL).content.decode()


def test_it_sends_a_test_email_from_the_admin(admin_client):
    with running_server() as (port, handler):
        admin_client.post(OUTBOUND_URL, outbound_form(smtp_port=str(port), smtp_username=""))
        response = admin_client.post(TEST_SEND_URL, {"to_address": "me@example.com"}, follow=True)

    assert "The test email was sent to me@example.com." in [
        str(m) for m in response.context["messages"]
    ]
    assert handler.received[0][1] == ["me@example.com"]


def test_it_shows_connection_refused_when_the_server_is_down(admin_client):
    port = free_port()
    admin_client.post(OUTBOUND_URL, outbound_form(smtp_port=str(port), smtp_username=""))

    response = admin_client.post(TEST_SEND_URL, {"to_address": "me@example.com"})

    assert response.status_code == 200
    assert f"Connection refused by 127.0.0.1:{port}" in response.content.decode()


def test_it_shows_the_servers_words_when_it_rejects_the_recipient(admin_client):
    refusals = {"gone@example.com": "550 5.1.1 Mailbox unavailable"}
    with running_server(refusals=refusals) as (port, _handler):
        admin_client.post(OUTBOUND_URL, outbound_form(smtp_port=str(port), smtp_username=""))
        response = admin_client.post(TEST_SEND_URL, {"to_address": "gone@example.com"})

    assert "550 5.1.1 Mailbox unavailable" in response.content.decode()


def test_it_shows_a_refused_login(admin_client):
    with running_server(users={"mailer": "right"}) as (port, _handler):
        admin_client.post(OUTBOUND_URL, outbound_form(smtp_port=str(port), smtp_password="bad"))
        response = admin_client.post(TEST_SEND_URL, {"to_address": "me@example.com"})

    assert "The server refused the login: 535" in response.content.decode()


def test_it_sends_a_test_email_from_a_sending_account_only(admin_client):
    with running_server() as (port, handler):
        account = EmailAccount.objects.create(
            name="Sales", email_address="sales@example.com", smtp_host="127.0.0.1", smtp_port=port
        )
        url = reverse("admin:crm_emailaccount_send_test_email", args=[account.pk])
        refused = admin_client.post(url, {"to_address": "me@example.com"})
        account.use_smtp = True
        account.save()
        admin_client.post(url, {"to_address": "me@example.com"})

    assert "This account is not used for sending" in refused.content.decode()
    assert len(handler.received) == 1


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:crm_outboundemailsettings_changelist"),
        OUTBOUND_URL,
        TEST_SEND_URL,
        reverse("admin:crm_emailaccount_changelist"),
        reverse("admin:campaigns_massemailsettings_changelist"),
        reverse("admin:campaigns_massemailsettings_change", args=[1]),
        reverse("admin:django_celery_beat_periodictask_changelist"),
    ],
)
def test_it_refuses_settings_pages_to_marketers(marketer_client, url):
    OutboundEmailSettings.load()
    MassEmailSettings.load()

    assert marketer_client.get(url).status_code == 403


def test_it_hides_settings_from_the_marketers_index(marketer_client):
    html = marketer_client.get(reverse("admin:index")).content.decode()

    assert "Contacts" in html
    for hidden in ("Outbound email settings", "Mass email settings", "Periodic tasks"):
        assert hidden not in html
    assert "Job runs" in html  # read-only: did the scheduled jobs run?


def test_marketers_read_the_job_runs_but_change_nothing(marketer_client):
    run = JobRun.objects.create(job="Send Mass Emails", summary="3 sent")

    listing = marketer_client.get(reverse("admin:crm_jobrun_changelist"))
    detail = marketer_client.get(reverse("admin:crm_jobrun_change", args=[run.pk]))
    delete = marketer_client.post(
        reverse("admin:crm_jobrun_delete", args=[run.pk]), {"post": "yes"}
    )

    assert "Job runs" in marketer_client.get(reverse("admin:index")).content.decode()
    assert listing.status_code == 200 and "3 sent" in listing.content.decode()
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert delete.status_code == 403 and JobRun.objects.filter(pk=run.pk).exists()


def test_it_lets_administrators_edit_scheduled_jobs(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    task = PeriodicTask.objects.get(name="Send Mass Emails")

    response = admin_client.get(
        reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    )

    assert "Periodic tasks" in html and "Outbound email settings" in html
    assert response.status_code == 200
    assert 'name="enabled"' in response.content.decode()


def test_it_warns_when_the_site_url_cannot_be_reached(admin_client):
    MassEmailSettings.objects.create(pk=1, site_url="http://127.0.0.1:8000")

    response = admin_client.get(reverse("admin:campaigns_massemailsettings_change", args=[1]))

    assert "which recipients cannot reach" in response.content.decode()


def test_it_warns_when_the_site_url_is_not_https_in_production(admin_client, settings):
    settings.DEBUG = False
    MassEmailSettings.objects.create(pk=1, site_url="http://mail.example.org")

    response = admin_client.get(reverse("admin:campaigns_massemailsettings_change", args=[1]))

    assert "is not https" in response.content.decode()
    assert "cannot reach" not in response.content.decode()


def test_it_does_not_warn_about_a_public_https_site_url(admin_client, settings):
    settings.DEBUG = False
    MassEmailSettings.objects.create(pk=1, site_url="https://mail.example.org")

    response = admin_client.get(reverse("admin:campaigns_massemailsettings_change", args=[1]))

    assert 'class="warning"' not in response.content.decode()


def test_it_lets_administrators_switch_a_scheduled_job_off_and_reschedule_it(admin_client):
    task = PeriodicTask.objects.get(name="Send Mass Emails")
    hourly = CrontabSchedule.objects.create(minute="0", hour="*")
    url = reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {name: value for name, value in data.items() if value not in (None, False)}

    response = admin_client.post(url, {**data, "crontab": hourly.pk, "enabled": ""})

    task.refresh_from_db()
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert (task.enabled, task.crontab_id) == (False, hourly.pk)


def check_site_url(admin_client, url: str) -> list[str]:
    MassEmailSettings.objects.update_or_create(pk=1, defaults={"site_url": url})
    check = reverse("admin:campaigns_massemailsettings_check_site_url", args=[1])
    response = admin_client.get(check, follow=True)
    return [str(message) for message in response.context["messages"]]


def test_it_confirms_a_site_url_that_leads_to_this_installation(client, live_server):
    # live_server makes this test transactional: rows made by migrations (groups) may be gone.
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    messages = check_site_url(client, live_server.url)

    assert f"The site URL {live_server.url} leads to this installation." in messages


def test_it_reports_a_site_url_that_leads_nowhere(admin_client):
    port = free_port()

    messages = check_site_url(admin_client, f"http://127.0.0.1:{port}")

    assert any(
        f"could not reach http://127.0.0.1:{port}/site-check/ from this server" in message
        for message in messages
    )


class OtherSite(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = b"some other web site"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        return  # Keep test output quiet.


def test_it_reports_a_site_url_that_leads_to_another_site(admin_client):
    server = ThreadingHTTPServer(("127.0.0.1", 0), OtherSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        messages = check_site_url(admin_client, url)
    finally:
        server.shutdown()
        server.server_close()

    expected = f"reached {url}/site-check/, but it is another site, not this one."
    assert any(message.endswith(expected) for message in messages)


def test_it_stores_both_passwords_of_a_new_group_email_account(admin_client):
    response = admin_client.post(
        reverse("admin:crm_emailaccount_add"),
        {
            "name": "Bounces",
            "email_address": "bounces@example.com",
            "is_active": "on",
            "smtp_port": "587",
            "smtp_security": "starttls",
            "smtp_password": "smtp-" + PASSWORD,
            "monitor_bounces": "on",
            "imap_host": "imap.example.com",
            "imap_port": "993",
            "imap_security": "ssl",
            "imap_username": "bounces",
            "imap_password": "imap-" + PASSWORD,
            "imap_folder": "INBOX",
            **CAPACITY,
        },
    )

    account = EmailAccount.objects.get()
    assert response.status_code == 302
    assert (account.smtp_password, account.imap_password) == (
        "smtp-" + PASSWORD,
        "imap-" + PASSWORD,
    )


def test_it_keeps_the_sending_capacity_of_a_source(admin_client):
    admin_client.post(
        OUTBOUND_URL,
        outbound_form(connections="25", messages_per_session="100", messages_per_second="14"),
    )

    stored = OutboundEmailSettings.load()
    assert (stored.connections, stored.messages_per_session) == (25, 100)
    assert stored.messages_per_second == 14


@pytest.mark.parametrize(
    "field, value",
    [("connections", "0"), ("connections", "201"), ("messages_per_second", "0")],
)
def test_it_refuses_a_capacity_that_cannot_work(admin_client, field, value):
    response = admin_client.post(OUTBOUND_URL, outbound_form(**{field: value}))

    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors[field]
    assert OutboundEmailSettings.load().connections == 10
