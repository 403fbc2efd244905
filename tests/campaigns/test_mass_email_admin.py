"""The mass email admin as a marketer uses it: edit, prefill, progress, controls, send test."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail, SentEmail
from tests.factories import (
    CampaignFactory,
    EmailTemplateFactory,
    MarketerFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
    TargetListFactory,
)
from tests.integration.smtp_server import SmtpServer, configure_system_smtp, free_port

pytestmark = pytest.mark.django_db
Status = MassEmail.Status


@pytest.fixture
def marketer(client):
    user = MarketerFactory()
    user.user_permissions.add(Permission.objects.get(codename="view_emailqueueitem"))
    client.force_login(user)
    return user


@pytest.fixture
def smtp_server():
    server = SmtpServer().start()
    configure_system_smtp(server.port)
    yield server
    server.stop()


def change_url(mass_email: MassEmail) -> str:
    return reverse("admin:campaigns_massemail_change", args=[mass_email.pk])


def form_data(mass_email: MassEmail, **changes) -> dict:
    data = {
        "campaign": mass_email.campaign_id,
        "name": mass_email.name,
        "status": mass_email.status,
        "email_template": mass_email.email_template_id,
    }
    return {**data, **changes}


@pytest.mark.parametrize("status", [Status.DRAFT, Status.PENDING])
def test_a_marketer_edits_draft_and_pending_mass_emails(client, marketer, status):
    mass_email = MassEmailFactory(status=status)

    response = client.post(change_url(mass_email), form_data(mass_email, name="Renamed"))

    assert response.status_code == 302
    mass_email.refresh_from_db()
    assert mass_email.name == "Renamed"


@pytest.mark.parametrize(
    "status", [Status.IN_PROCESS, Status.COMPLETE, Status.FAILED, Status.PAUSED, Status.CANCELED]
)
def test_other_statuses_open_read_only(client, marketer, status):
    mass_email = MassEmailFactory(status=status, name="Fixed")

    page = client.get(change_url(mass_email))
    posted = client.post(change_url(mass_email), form_data(mass_email, name="Renamed"))

    assert page.status_code == 200
    assert 'name="name"' not in page.content.decode()
    assert posted.status_code == 403
    mass_email.refresh_from_db()
    assert mass_email.name == "Fixed"


def test_the_status_field_offers_only_draft_and_pending(client, marketer):
    page = client.get(change_url(MassEmailFactory()))

    choices = [value for value, _label in page.context["adminform"].form.fields["status"].choices]
    assert choices == [Status.DRAFT, Status.PENDING]


def test_creating_from_a_campaign_prefills_name_and_lists(client, marketer):
    campaign = CampaignFactory(name="Autumn")
    target, excluded = TargetListFactory(), TargetListFactory()
    campaign.target_lists.add(target)
    campaign.excluding_target_lists.add(excluded)
    add_url = reverse("admin:campaigns_massemail_add") + f"?campaign={campaign.pk}"

    page = client.get(add_url)
    form = page.context["adminform"].form
    assert form.initial["name"] == f"Autumn {timezone.localdate():%Y-%m-%d}"
    assert form.initial["target_lists"] == [target.pk]
    assert form.initial["excluding_target_lists"] == [excluded.pk]
    other = CampaignFactory()
    client.post(
        add_url,
        {
            "campaign": other.pk,  # ignored: the campaign is fixed
            "name": "Autumn letter",
            "status": Status.DRAFT,
            "email_template": EmailTemplateFactory().pk,
            "target_lists": [target.pk],
            "excluding_target_lists": [excluded.pk],
        },
    )

    created = MassEmail.objects.get(name="Autumn letter")
    assert created.campaign == campaign and created.created_by == marketer
    assert list(created.target_lists.all()) == [target]
    assert list(created.excluding_target_lists.all()) == [excluded]


def test_the_page_shows_progress_and_last_errors(client, marketer):
    mass_email = MassEmailFactory(status=Status.IN_PROCESS)
    PendingQueueItemFactory.create_batch(2, mass_email=mass_email, status="sent")
    PendingQueueItemFactory(mass_email=mass_email)
    PendingQueueItemFactory(
        mass_email=mass_email, status="failed", last_error="550 5.1.1 Mailbox unknown"
    )
    PendingQueueItemFactory(mass_email=mass_email, status="sent", is_test=True)

    page = client.get(change_url(mass_email))

    progress = page.context["progress"]
    assert (progress.total, progress.sent, progress.pending, progress.failed) == (4, 2, 1, 1)
    html = page.content.decode()
    assert "550 5.1.1 Mailbox unknown" in html and 'id="progress"' in html


@pytest.mark.parametrize(
    ("control", "before", "after"),
    [
        ("pause", Status.IN_PROCESS, Status.PAUSED),
        ("resume", Status.PAUSED, Status.IN_PROCESS),
        ("cancel", Status.IN_PROCESS, Status.CANCELED),
    ],
)
def test_pause_resume_and_cancel(client, marketer, control, before, after):
    mass_email = MassEmailFactory(status=before)
    PendingQueueItemFactory(mass_email=mass_email)
    url = reverse("admin:campaigns_massemail_control", args=[mass_email.pk, control])

    assert client.get(url).status_code == 405
    client.post(url)

    mass_email.refresh_from_db()
    assert mass_email.status == after


def test_resuming_an_unqueued_mass_email_makes_it_pending_again(client, marketer):
    mass_email = MassEmailFactory(status=Status.PAUSED)

    client.post(
        reverse("admin:campaigns_massemail_changelist"),
        {"action": "resume_selected", "_selected_action": [mass_email.pk]},
    )

    mass_email.refresh_from_db()
    assert mass_email.status == Status.PENDING


def send_test_url(mass_email: MassEmail) -> str:
    return reverse("admin:campaigns_massemail_send_test", args=[mass_email.pk])


def test_send_test_defaults_to_the_marketer(client, marketer):
    page = client.get(send_test_url(MassEmailFactory()))

    assert page.status_code == 200
    assert page.context["form"].initial["users"] == [marketer.pk]


def test_send_test_sends_and_says_so(client, marketer, smtp_server):
    mass_email = MassEmailFactory()

    page = client.post(
        send_test_url(mass_email), {"users": [marketer.pk], "addresses": "x@example.org"}
    )

    assert smtp_server.received[marketer.email.lower()] == 1
    assert smtp_server.received["x@example.org"] == 1
    shown = [str(message) for message in page.context["messages"]]
    assert any("Test sent to" in message for message in shown)
    mass_email.refresh_from_db()
    assert mass_email.status == Status.DRAFT


def test_send_test_shows_the_smtp_error_in_plain_words(client, marketer):
    configure_system_smtp(free_port())

    page = client.post(send_test_url(MassEmailFactory()), {"addresses": "x@example.org"})

    html = page.content.decode()
    assert "Connection refused" in html and "x@example.org" in html


def test_send_test_refuses_a_malformed_address(client, marketer, smtp_server):
    page = client.post(
        send_test_url(MassEmailFactory()), {"addresses": "good@example.org, not-an-address"}
    )

    assert "is not an email address (no @)" in page.content.decode()
    assert smtp_server.total == 0


def test_the_queue_item_page_shows_the_stored_copy(client, marketer):
    item = PendingQueueItemFactory(status="sent")
    SentEmail.objects.create(queue_item=item, data="Subject: Autumn <news>\r\n\r\nHello")

    page = client.get(reverse("admin:campaigns_emailqueueitem_change", args=[item.pk]))

    assert page.status_code == 200
    assert "Subject: Autumn &lt;news&gt;" in page.content.decode()
    assert EmailQueueItem.objects.get(pk=item.pk).status == "sent"
