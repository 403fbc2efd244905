from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import EmailQueueItem, HitCounter, LogCounter
from campaigns.results import counters as result_counters
from campaigns.results.figures import reason_words, results
from tests.factories import (
    CampaignFactory,
    CampaignLogRecordFactory,
    ContactFactory,
    EmailAddressFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db
LONG_AGO = timezone.now() - timedelta(days=2)


def sent_to(mass_email, address, **fields):
    contact = ContactFactory(email_address=EmailAddressFactory(address=address))
    item = SentQueueItemFactory(mass_email=mass_email, contact=contact, **fields)
    CampaignLogRecordFactory(queue_item=item, action="sent")
    return item


def log(item, action, **fields):
    return CampaignLogRecordFactory(queue_item=item, action=action, **fields)


def hit(item, kind, at=LONG_AGO, machine=False, **fields):
    return TrackingHit.objects.create(
        queue_item=item,
        campaign=item.mass_email.campaign,
        is_test=item.is_test,
        kind=kind,
        at=at,
        is_machine=machine,
        **fields,
    )


def scenario():
    """Two mass emails of one campaign: opens and clicks, bounces of two kinds, a test item."""
    campaign = CampaignFactory()
    first = MassEmailFactory(campaign=campaign, status="complete")
    second = MassEmailFactory(campaign=campaign, status="complete")
    home, shop = TrackingUrlFactory(campaign=campaign), TrackingUrlFactory(campaign=campaign)
    a = sent_to(first, "ann@globex.test")
    b = sent_to(first, "bob@globex.test")
    c = sent_to(second, "cy@initech.test")
    test = sent_to(first, "me@initech.test", is_test=True)
    log(a, "opened")
    log(a, "clicked", tracking_url=home)
    log(a, "clicked", tracking_url=shop)
    log(b, "opened")
    log(c, "bounced", bounce_type="soft")
    log(c, "bounced", bounce_type="hard")
    log(b, "opted_out")
    log(test, "opened")
    hit(a, "open")
    hit(a, "open", at=LONG_AGO + timedelta(hours=3))
    hit(a, "click", tracking_url=home, at=LONG_AGO + timedelta(hours=3))
    hit(a, "click", tracking_url=shop, at=LONG_AGO + timedelta(hours=3), machine=True)
    hit(b, "open", machine=True)
    hit(test, "open")
    return campaign, first, second, home, shop


def check(found, first, home, shop):
    figures = found.figures
    assert (figures.sent, figures.opened, figures.clicked) == (3, 2, 1)
    assert (figures.bounced, figures.delivered, figures.opted_out) == (1, 2, 1)
    assert figures.bounces_by_kind == {"soft": 1, "hard": 1}
    assert (figures.human_opened, figures.human_clicked) == (1, 1)
    assert figures.click_to_open == 50.0
    rows = {row.link: row for row in found.links}
    assert (rows[home].clicks, rows[home].human_clicks, rows[home].clickers) == (1, 1, 1)
    assert (rows[shop].clicks, rows[shop].human_clicks, rows[shop].share) == (1, 0, 50.0)
    domains = dict(found.domains)
    assert list(domains) == ["globex.test", "initech.test"]
    assert (domains["globex.test"].sent, domains["globex.test"].opened) == (2, 2)
    assert (domains["initech.test"].sent, domains["initech.test"].bounced) == (1, 1)
    compared = dict(found.mass_emails)
    assert (compared[first].sent, compared[first].clicked, compared[first].human_opened) == (
        2,
        1,
        1,
    )
    assert sum(p.opens for p in found.chart) == 2
    assert sum(p.machine_opens for p in found.chart) == 1
    assert sum(p.clicks + p.machine_clicks for p in found.chart) == 2
    assert found.chart_unit == "hour" and len(found.chart) == 4


def test_it_reads_the_same_results_live_and_from_counters():
    campaign, first, _second, home, shop = scenario()
    check(results(campaign), first, home, shop)
    folded = result_counters.update_counters()
    assert folded["log"] and folded["hits"]
    assert LogCounter.objects.exists() and HitCounter.objects.exists()
    check(results(campaign), first, home, shop)
    assert result_counters.update_counters() == {"log": 0, "hits": 0}


def test_it_counts_recipients_once_across_folds():
    campaign, first, _second, home, shop = scenario()
    result_counters.update_counters()
    item = EmailQueueItem.objects.get(email="ann@globex.test")
    log(item, "bounced", bounce_type="soft")
    hit(item, "open", at=LONG_AGO + timedelta(hours=1))
    hit(item, "click", tracking_url=home, at=LONG_AGO + timedelta(hours=1))
    found = results(campaign)
    assert (found.figures.bounced, found.figures.human_opened, found.figures.human_clicked) == (
        2,
        1,
        1,
    )
    result_counters.update_counters()
    again = results(campaign)
    assert again.figures == found.figures


def test_it_leaves_unsettled_hits_to_the_live_tail():
    campaign = CampaignFactory()
    item = sent_to(MassEmailFactory(campaign=campaign), "ann@globex.test")
    hit(item, "open", at=timezone.now())
    assert result_counters.update_counters()["hits"] == 0
    assert results(campaign).figures.human_opened == 1


def test_it_shows_one_mass_email_alone():
    campaign, first, second, _home, _shop = scenario()
    result_counters.update_counters()
    found = results(campaign, first)
    assert (found.figures.sent, found.figures.bounced, found.mass_emails) == (2, 0, [])
    assert results(campaign, second).figures.bounces_by_kind == {"soft": 1, "hard": 1}


def test_it_counts_days_after_three_days():
    campaign = CampaignFactory()
    item = sent_to(MassEmailFactory(campaign=campaign), "ann@globex.test")
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    hit(item, "open", at=start)
    hit(item, "open", at=start + timedelta(days=5, hours=3))
    found = results(campaign)
    assert found.chart_unit == "day"
    assert [p.opens for p in found.chart] == [1, 0, 0, 0, 0, 1]


def test_it_groups_failure_reasons_by_their_words():
    campaign = CampaignFactory()
    mass_email = MassEmailFactory(campaign=campaign)
    for address in ("ann@x.test", "bob@y.test"):
        item = sent_to(mass_email, address)
        item.status, item.last_error = "failed", f"550 5.1.1 <{address}>: user unknown 1234567"
        item.save()
    item.pk, item.email_address, item.last_error = None, None, "421 try later"
    item.save()
    found = results(campaign).reasons
    assert found == [("550 5.1.1 <…>: user unknown …", 2), ("421 try later", 1)]
    assert reason_words("5.7.1 listed at 10.0.0.1") == "5.7.1 listed at …"


def test_it_groups_the_words_of_returned_bounces_with_the_failures(admin_client):
    campaign = CampaignFactory()
    mass_email = MassEmailFactory(campaign=campaign)
    for address in ("ann@x.test", "bob@y.test", "cy@z.test"):
        item = sent_to(mass_email, address)
        detail = f"5.7.1 {address} rejected: listed on zen.spamhaus.org 2026"
        log(item, "bounced", bounce_type="blocked", bounce_detail=detail)
    refused = sent_to(mass_email, "dee@w.test", status="failed", last_error="550 5.1.1 no user")
    log(refused, "bounced", bounce_type="hard", bounce_detail="550 5.1.1 no user")

    found = results(campaign, mass_email).reasons

    assert found == [
        ("5.7.1 … rejected: listed on zen.spamhaus.org …", 3),
        ("550 5.1.1 no user", 1),
    ]
    page = admin_client.get(
        "/admin/campaigns/campaignlogrecord/",
        {"campaign__id__exact": campaign.pk, "reason": "5.7.1 "},
    )
    assert page.context["cl"].result_count == 3


def test_it_counts_why_people_unsubscribed(admin_client):
    from tracking.models import OptOutReason

    campaign = CampaignFactory()
    mass_email = MassEmailFactory(campaign=campaign)
    given = ["too_many", "too_many", "never_signed_up", ""]
    for n, reason in enumerate(given):
        item = sent_to(mass_email, f"reader{n}@example.org")
        OptOutReason.objects.create(queue_item=item, campaign=campaign, reason=reason, text="x")

    found = results(campaign, mass_email).opt_out_reasons

    assert found == [
        ("I receive too many emails", 2),
        ("I never signed up", 1),
        ("In their own words only", 1),
    ]
    page = admin_client.get(f"/admin/campaigns/campaign/{campaign.pk}/results/")
    assert "Why people unsubscribed" in page.content.decode()


def test_it_forgets_and_rebuilds_the_counters():
    campaign, first, _second, home, shop = scenario()
    result_counters.update_counters()
    result_counters.rebuild_counters()
    check(results(campaign), first, home, shop)


def test_the_command_and_the_beat_entry_fold_the_counters(capsys):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    scenario()
    call_command("update_results")
    folded = capsys.readouterr().out
    call_command("update_results", "--rebuild")
    rebuilt = capsys.readouterr().out

    assert folded == rebuilt == "12 log records and 6 tracking hits folded into the counters\n"
    entry = PeriodicTask.objects.get(name="Update Results")
    assert (entry.task, entry.crontab.minute, entry.enabled) == (
        "campaigns.tasks.update_results",
        "*",
        True,
    )
