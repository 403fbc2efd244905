"""Data for bench/tracking.py: a campaign to hit, the rows it left, and a big log to aggregate.

Imported after django.setup() by bench/tracking.py.
"""

import time
from datetime import timedelta

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from campaigns.authoring import tokens
from campaigns.models import Campaign, CampaignLogRecord, EmailQueueItem, MassEmail, TrackingUrl
from campaigns.results.statistics import campaign_statistics
from crm.models import EmailTemplate
from tracking.models import TrackingHit

BATCH = 10_000


def make_campaign(name: str) -> MassEmail:
    campaign = Campaign.objects.create(name=name, status="active")
    template = EmailTemplate.objects.create(name=name, subject="Hello", body_html="<p>Hi</p>")
    return MassEmail.objects.create(
        campaign=campaign, name=name, email_template=template, status="complete"
    )


def add_sent_items(mass_email: MassEmail, count: int) -> list[int]:
    """`count` sent queue items, in batches; returns their ids."""
    sent_at = timezone.now() - timedelta(hours=1)
    ids: list[int] = []
    for start in range(0, count, BATCH):
        batch = [
            EmailQueueItem(
                mass_email=mass_email,
                email=f"bench{start + n}@example.com",
                status=EmailQueueItem.Status.SENT,
                attempts=1,
                sent_at=sent_at,
            )
            for n in range(min(BATCH, count - start))
        ]
        ids += [item.pk for item in EmailQueueItem.objects.bulk_create(batch)]
    return ids


def seed_campaign(items: int) -> dict:
    """A campaign with `items` sent items and one link; the open and click paths of each."""
    from django.urls import reverse

    mass_email = make_campaign("Bench tracking")
    link = TrackingUrl.objects.create(
        campaign=mass_email.campaign, name="Offer", url="https://example.com/offer"
    )
    ids = add_sent_items(mass_email, items)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # a production database has statistics; a fresh one has none
    return {
        "campaign": mass_email.campaign_id,
        "open": [reverse("tracking:open", args=[tokens.make(tokens.OPEN, i)]) for i in ids],
        "click": [
            reverse("tracking:click", args=[tokens.make(tokens.CLICK, i, link.pk)]) for i in ids
        ],
    }


def count_rows(campaign_id: int) -> dict[str, int]:
    log = CampaignLogRecord.objects.filter(campaign_id=campaign_id)
    hits = TrackingHit.objects.filter(campaign_id=campaign_id)
    return {
        "opened": log.filter(action="opened").count(),
        "clicked": log.filter(action="clicked").count(),
        "open_hits": hits.filter(kind="open").count(),
        "click_hits": hits.filter(kind="click").count(),
        "items_opened": hits.aggregate(n=Count("queue_item", distinct=True))["n"],
        "items_clicked": hits.filter(kind="click").aggregate(n=Count("queue_item", distinct=True))[
            "n"
        ],
    }


def add_log(campaign_id: int, action: str, share: float, bounce: str = "") -> None:
    """Log `action` for the first `share` of the campaign's items, in one INSERT … SELECT."""
    table, items = CampaignLogRecord._meta.db_table, EmailQueueItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (campaign_id, action, action_date, queue_item_id, email,"
            " bounce_type, is_test)"
            f" SELECT %s, %s, now(), q.id, q.email, %s, false FROM {items} q"
            " WHERE q.mass_email_id IN (SELECT id FROM campaigns_massemail WHERE campaign_id = %s)"
            " AND q.id %% 100 < %s",
            [campaign_id, action, bounce, campaign_id, int(share * 100)],
        )


def seed_statistics_campaign(log_rows: int) -> dict:
    """A campaign whose log holds about `log_rows` records; times its statistics."""
    mass_email = make_campaign("Bench statistics")
    campaign_id = mass_email.campaign_id
    add_sent_items(mass_email, log_rows // 2)
    for action, share, bounce in [
        ("sent", 1.0, ""),
        ("opened", 0.6, ""),
        ("clicked", 0.3, ""),
        ("bounced", 0.06, "hard"),
        ("bounced", 0.04, "soft"),
    ]:
        add_log(campaign_id, action, share, bounce)
    campaign = Campaign.objects.get(pk=campaign_id)
    before_vacuum = _time(campaign, runs=1)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {CampaignLogRecord._meta.db_table}")
    seconds = _time(campaign, runs=5)
    figures = {f.key: f.value for f in campaign_statistics(campaign)}
    return {
        "log_rows": CampaignLogRecord.objects.filter(campaign=campaign).count(),
        "seconds": seconds,
        "before_vacuum": before_vacuum[0],
        "figures": figures,
    }


def _time(campaign: Campaign, runs: int) -> list[float]:
    seconds = []
    for _run in range(runs):
        started = time.perf_counter()
        campaign_statistics(campaign)
        seconds.append(time.perf_counter() - started)
    return seconds
