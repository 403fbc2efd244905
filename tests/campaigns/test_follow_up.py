"""Follow up non-openers: a Draft with its own subject, to who got the original and did not
open it as a person, leaving out who opted out, bounced or complained since."""

import datetime

import pytest
from django.utils import timezone

from campaigns.models import CampaignLogRecord, CampaignStatus, MassEmail
from campaigns.sending.follow_up import CannotFollowUp, create_follow_up
from campaigns.sending.job import run_send_job
from campaigns.sending.queue import build_queue, count_recipients
from tests.factories import CampaignFactory, MassEmailFactory, SentQueueItemFactory
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db
Action = CampaignLogRecord.Action


def sent_mass_email():
    mass_email = MassEmailFactory(
        campaign=CampaignFactory(status=CampaignStatus.ACTIVE), status=MassEmail.Status.COMPLETE
    )
    two_days_ago = timezone.now() - datetime.timedelta(days=2)
    people = {}
    for name in (
        "silent",
        "proxy_only",
        "opened",
        "clicked",
        "opted_out",
        "bounced",
        "complained",
        "recent",
        "invalid",
    ):
        people[name] = SentQueueItemFactory(mass_email=mass_email, sent_at=two_days_ago)
    people["recent"].sent_at = timezone.now() - datetime.timedelta(hours=2)
    people["recent"].save()
    hit = {"campaign": mass_email.campaign}
    TrackingHit.objects.create(queue_item=people["proxy_only"], kind="open", is_machine=True, **hit)
    TrackingHit.objects.create(queue_item=people["opened"], kind="open", **hit)
    TrackingHit.objects.create(queue_item=people["clicked"], kind="click", **hit)
    for name, action in (("opted_out", Action.OPTED_OUT), ("complained", Action.OPTED_OUT)):
        item = people[name]
        CampaignLogRecord.objects.create(
            campaign=mass_email.campaign,
            action=action,
            queue_item=item,
            contact=item.contact,
            email_address=item.email_address,
        )
    bounced = people["bounced"]
    other = CampaignFactory()  # a bounce of any campaign since counts
    CampaignLogRecord.objects.create(
        campaign=other,
        action=Action.BOUNCED,
        bounce_type="hard",
        contact=bounced.contact,
        email_address=bounced.email_address,
    )
    people["invalid"].email_address.invalid = True
    people["invalid"].email_address.save()
    return mass_email, people


def test_the_follow_up_goes_to_who_did_not_open_as_a_person(smtp_server):
    original, people = sent_mass_email()

    follow_up = create_follow_up(original, "Did you miss this?", 24)

    assert follow_up.status == MassEmail.Status.DRAFT and follow_up.follow_up_of == original
    assert follow_up.email_template == original.email_template
    MassEmail.objects.filter(pk=follow_up.pk).update(status=MassEmail.Status.PENDING)
    follow_up.refresh_from_db()
    assert build_queue(follow_up).queued == 2
    queued = set(follow_up.queue_items.values_list("email_address_id", flat=True))
    assert queued == {people["silent"].email_address_id, people["proxy_only"].email_address_id}
    run_send_job()
    (message,) = smtp_server.messages_to(people["silent"].email_address.address)
    assert message["Subject"] == "Did you miss this?"
    assert sum(smtp_server.received.values()) == 2


def test_only_a_mass_email_that_sent_can_be_followed_up_and_with_a_subject():
    original, _people = sent_mass_email()
    with pytest.raises(CannotFollowUp):
        create_follow_up(original, "  ", 24)
    with pytest.raises(CannotFollowUp):
        create_follow_up(MassEmailFactory(status=MassEmail.Status.DRAFT), "Again", 24)


def test_the_page_counts_the_follow_ups_recipients_before_it_is_built():
    original, _people = sent_mass_email()
    follow_up = create_follow_up(original, "Did you miss this?", 24)

    assert count_recipients(follow_up).receives == 2
