"""The mass email page's sending panel and its Send now and Duplicate buttons."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import formats, timezone
from django_celery_beat.models import PeriodicTask

from campaigns.models import MassEmail, MassEmailSettings
from campaigns.results.estimate import estimate
from campaigns.sending.send_now import SendNowRefused, send_now
from tests.campaigns.test_mass_email_admin import change_url, marketer  # noqa: F401
from tests.campaigns.test_queue import address, in_list
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
    TargetListFactory,
)

pytestmark = pytest.mark.django_db
Status = MassEmail.Status


def test_it_shows_how_many_will_receive_a_draft_and_who_is_left_out(client, marketer):  # noqa: F811
    readers = TargetListFactory()
    in_list(readers, ContactFactory(email_address=address("ann@example.com")))
    in_list(readers, ContactFactory(email_address=address("out@example.com", opt_out=True)))
    mass_email = MassEmailFactory(status=Status.DRAFT)
    mass_email.target_lists.add(readers)

    html = client.get(change_url(mass_email)).content.decode()

    assert "1 recipient will receive it" in html
    assert 'class="left-out-opted-out">1<' in html
    assert 'id="cancel"' not in html and 'id="send-now"' not in html


def test_it_shows_the_progress_bar_next_run_and_estimate_while_sending(client, marketer):  # noqa: F811
    MassEmailSettings.objects.update_or_create(pk=1, defaults={"max_per_hour": 2})
    earlier = MassEmailFactory(status=Status.IN_PROCESS)
    PendingQueueItemFactory.create_batch(3, mass_email=earlier)
    mass_email = MassEmailFactory(status=Status.IN_PROCESS)
    PendingQueueItemFactory(mass_email=mass_email, status="sent", sent_at=timezone.now())
    PendingQueueItemFactory.create_batch(2, mass_email=mass_email)

    page = client.get(change_url(mass_email))

    html = page.content.decode()
    assert 'class="progress-bar"' in html and 'http-equiv="refresh"' in html
    found = page.context["estimate"]
    assert (found.ahead, found.remaining, found.allowance_now) == (3, 2, 1)
    assert found.next_run is not None and found.next_run >= timezone.now() - timedelta(seconds=1)
    # 5 to send, 1 allowed this hour, 2 per hour after: two more hours after the next run.
    assert found.finish == found.next_run + timedelta(hours=2)
    assert 'id="estimated-finish"' in html and 'id="send-now"' in html


def test_it_says_when_the_sending_job_is_not_scheduled():
    PeriodicTask.objects.filter(name="Send Mass Emails").update(enabled=False)
    mass_email = MassEmailFactory(status=Status.IN_PROCESS)
    PendingQueueItemFactory(mass_email=mass_email)
    assert (estimate(mass_email).next_run, estimate(mass_email).finish) == (None, None)


def test_send_now_enqueues_the_sending_job_after_commit(
    client,
    marketer,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    mass_email = MassEmailFactory(status=Status.PENDING, start_at=None)
    url = reverse("admin:campaigns_massemail_send_now", args=[mass_email.pk])

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(url)

    assert response.status_code == 302
    assert [callback.__self__.name for callback in callbacks] == [
        "campaigns.tasks.send_mass_emails"
    ]


@pytest.mark.parametrize(
    ("status", "start_in", "campaign_status"),
    [
        (Status.DRAFT, None, "active"),
        (Status.COMPLETE, None, "active"),
        (Status.PENDING, timedelta(hours=1), "active"),
        (Status.PENDING, None, "inactive"),
    ],
)
def test_send_now_refuses_what_is_not_due(status, start_in, campaign_status):
    start_at = timezone.now() + start_in if start_in else None
    mass_email = MassEmailFactory(
        status=status, start_at=start_at, campaign=CampaignFactory(status=campaign_status)
    )
    with pytest.raises(SendNowRefused):
        send_now(mass_email)


def test_a_complete_mass_email_offers_duplicate_but_no_test_nor_cancel(client, marketer):  # noqa: F811
    readers = TargetListFactory()
    mass_email = MassEmailFactory(status=Status.COMPLETE, from_name="News")
    mass_email.target_lists.add(readers)
    PendingQueueItemFactory(mass_email=mass_email, status="sent", sent_at=timezone.now())

    html = client.get(change_url(mass_email)).content.decode()
    assert 'id="duplicate"' in html and 'id="first-sent-at"' in html
    assert 'id="send-test"' not in html and 'id="cancel"' not in html

    response = client.post(reverse("admin:campaigns_massemail_duplicate", args=[mass_email.pk]))

    copy = MassEmail.objects.exclude(pk=mass_email.pk).get()
    assert response["Location"] == change_url(copy)
    assert (copy.status, copy.email_template, copy.from_name) == (
        Status.DRAFT,
        mass_email.email_template,
        "News",
    )
    assert list(copy.target_lists.all()) == [readers]
    assert not copy.queue_items.exists()


def test_a_sent_mass_email_shows_when_it_started(client, marketer):  # noqa: F811
    mass_email = MassEmailFactory(status=Status.COMPLETE, start_at=None)
    item = PendingQueueItemFactory(mass_email=mass_email, status="sent", sent_at=timezone.now())

    page = client.get(change_url(mass_email))

    lines = [line for fieldset in page.context["adminform"] for line in fieldset]
    shown = [field for line in lines for field in line]
    started = next(f for f in shown if f.field["name"] == "started")
    assert started.contents() == formats.localize(timezone.localtime(item.sent_at))
    assert "start_at" not in [f.field["name"] for f in shown]
