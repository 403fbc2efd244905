"""Mass emails through the API: edits while Draft or Pending, the marketer's status changes
as actions refusing impossible ones, a test send to a real SMTP server, the recipient count."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail
from tests.api.conftest import problem_of
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailAddressFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
    TargetListEntryFactory,
    TrackingUrlFactory,
)
from tests.integration.smtp_server import SmtpServer, configure_system_smtp

pytestmark = pytest.mark.django_db
Status = MassEmail.Status


def url(mass_email: MassEmail, action: str = "") -> str:
    return f"/api/v1/mass-emails/{mass_email.pk}/" + (f"{action}/" if action else "")


def test_it_creates_a_draft_and_answers_its_status(admin_api):
    campaign, template = CampaignFactory(), EmailTemplateFactory()

    response = admin_api.post(
        "/api/v1/mass-emails/",
        {
            "campaign": campaign.pk,
            "name": "December",
            "email_template": template.pk,
            "status": "pending",
        },
    )

    mass_email = MassEmail.objects.get()
    assert response.status_code == 201
    assert response.json()["status"] == "draft"  # the status changes only by its actions
    assert mass_email.created_by.username == response.wsgi_request.user.username


def test_a_mass_email_of_a_web_campaign_is_refused(admin_api):
    response = admin_api.post(
        "/api/v1/mass-emails/",
        {
            "campaign": CampaignFactory(type="web").pk,
            "name": "x",
            "email_template": EmailTemplateFactory().pk,
        },
    )

    assert "campaign" in problem_of(response)["errors"]


def test_it_schedules_and_unschedules(admin_api):
    mass_email = MassEmailFactory(status=Status.DRAFT)
    start = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    scheduled = admin_api.post(url(mass_email, "schedule"), {"start_at": start.isoformat()})
    moved = admin_api.post(url(mass_email, "schedule"), {})
    back = admin_api.post(url(mass_email, "unschedule"))
    again = admin_api.post(url(mass_email, "unschedule"))

    assert scheduled.json()["status"] == "pending"
    assert scheduled.json()["start_at"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    assert moved.json()["start_at"] is None
    assert back.json()["status"] == "draft"
    assert again.status_code == 409 and problem_of(again)["code"] == "invalid_transition"


def test_scheduling_checks_the_templates_links_as_the_admin_does(admin_api):
    other_campaigns_link = TrackingUrlFactory()
    template = EmailTemplateFactory(
        body_html=f"<a href='{{trackingUrl:{other_campaigns_link.pk}}}'>x</a>"
    )
    mass_email = MassEmailFactory(email_template=template)

    response = admin_api.post(url(mass_email, "schedule"), {})

    assert response.status_code == 422
    assert "email_template" in problem_of(response)["errors"]
    mass_email.refresh_from_db()
    assert mass_email.status == Status.DRAFT


@pytest.mark.parametrize(
    "status, action, expected",
    [
        (Status.PENDING, "pause", "paused"),
        (Status.IN_PROCESS, "pause", "paused"),
        (Status.DRAFT, "cancel", "canceled"),
        (Status.PAUSED, "cancel", "canceled"),
    ],
)
def test_the_marketers_status_changes(admin_api, status, action, expected):
    mass_email = MassEmailFactory(status=status)

    response = admin_api.post(url(mass_email, action))

    assert response.status_code == 200
    assert response.json()["status"] == expected


def test_resuming_goes_back_to_where_it_was(admin_api):
    queued = PendingQueueItemFactory(mass_email__status=Status.PAUSED).mass_email
    not_queued = MassEmailFactory(status=Status.PAUSED)

    assert admin_api.post(url(queued, "resume")).json()["status"] == "in_process"
    assert admin_api.post(url(not_queued, "resume")).json()["status"] == "pending"


@pytest.mark.parametrize(
    "status, action",
    [
        (Status.DRAFT, "pause"),
        (Status.COMPLETE, "cancel"),
        (Status.PENDING, "resume"),
        (Status.CANCELED, "schedule"),
        (Status.DRAFT, "send-now"),
        (Status.COMPLETE, "test"),
    ],
)
def test_impossible_changes_are_refused_and_change_nothing(admin_api, status, action):
    mass_email = MassEmailFactory(status=status)

    response = admin_api.post(url(mass_email, action), {"emails": ["a@example.com"]})

    problem = problem_of(response)
    assert response.status_code == 409
    assert problem["code"] == "invalid_transition"
    assert problem["detail"]
    mass_email.refresh_from_db()
    assert mass_email.status == status


@pytest.mark.parametrize("action", ["pause", "cancel", "resume"])
def test_an_automation_steps_email_is_left_to_its_automation(admin_api, action):
    mass_email = MassEmailFactory(status=Status.IN_PROCESS, automated=True)

    response = admin_api.post(url(mass_email, action))

    assert response.status_code == 409
    assert "paused and restarted with its automation" in problem_of(response)["detail"]
    mass_email.refresh_from_db()
    assert mass_email.status == Status.IN_PROCESS


def test_send_now_queues_the_sending_job(admin_api, django_capture_on_commit_callbacks):
    mass_email = MassEmailFactory(status=Status.PENDING)

    with django_capture_on_commit_callbacks() as queued:
        response = admin_api.post(url(mass_email, "send-now"))

    assert response.status_code == 200
    assert len(queued) == 1


def test_edits_are_refused_once_sending_started(admin_api):
    mass_email = MassEmailFactory(status=Status.IN_PROCESS)

    changed = admin_api.patch(url(mass_email), {"name": "Renamed"})
    deleted = admin_api.delete(url(mass_email))

    assert problem_of(changed)["code"] == "not_editable"
    assert problem_of(deleted)["code"] == "invalid_transition"
    assert MassEmail.objects.get().name == mass_email.name


def test_a_test_send_goes_through_the_smtp_server(admin_api):
    server = SmtpServer().start()
    try:
        configure_system_smtp(server.port)
        mass_email = MassEmailFactory(status=Status.DRAFT)
        contact = ContactFactory()

        response = admin_api.post(
            url(mass_email, "test"),
            {"emails": ["typed@example.org"], "people": [{"type": "contact", "id": contact.pk}]},
        )
    finally:
        server.stop()

    assert response.status_code == 200
    assert [(r["recipient"], r["sent"]) for r in response.json()["results"]] == [
        (contact.email, True),
        ("typed@example.org", True),
    ]
    assert len(server.messages_to("typed@example.org")) == 1
    assert not EmailQueueItem.objects.filter(is_test=False).exists()


def test_a_test_send_to_nobody_or_someone_unknown_is_refused(admin_api):
    mass_email = MassEmailFactory(status=Status.DRAFT)

    nobody = admin_api.post(url(mass_email, "test"), {})
    unknown = admin_api.post(url(mass_email, "test"), {"people": [{"type": "lead", "id": 99999}]})

    assert problem_of(nobody)["code"] == "invalid_fields"
    assert "people" in problem_of(unknown)["errors"]


def test_the_recipient_count_before_sending(admin_api):
    entry = TargetListEntryFactory()
    TargetListEntryFactory(
        target_list=entry.target_list,
        contact=ContactFactory(email_address=EmailAddressFactory(opt_out=True)),
    )
    mass_email = MassEmailFactory()
    mass_email.target_lists.add(entry.target_list)

    counted = admin_api.get(url(mass_email, "recipients")).json()

    assert (counted["receives"], counted["opted_out"], counted["total"]) == (1, 1, 2)
    assert counted["left_out"] == 1


def test_progress_and_a_copy(admin_api):
    item = PendingQueueItemFactory()
    mass_email = item.mass_email

    progress = admin_api.get(url(mass_email, "progress")).json()
    copy = admin_api.post(url(mass_email, "duplicate"))

    assert (progress["total"], progress["pending"], progress["sent"]) == (1, 1, 0)
    assert copy.status_code == 201
    assert copy.json()["status"] == "draft" and copy.json()["id"] != mass_email.pk


def test_the_send_scope_is_needed_for_status_changes(make_key):
    from tests.api.conftest import ApiClient

    mass_email = MassEmailFactory(status=Status.PENDING)
    api = ApiClient(make_key(["campaigns:read", "campaigns:write"]))

    response = api.post(url(mass_email, "pause"))

    assert problem_of(response)["code"] == "missing_scope"
    assert "send" in problem_of(response)["detail"]
