"""Counters the results pages read, so a page never scans the log or the tracking hits.

campaigns.results.counters folds new log records and settled tracking hits into them (the beat
entry "Update Results", every minute); campaigns.results.figures adds what came since, read by
primary key range. Mass emails and tracking URLs are kept as plain ids (0: none or unknown), so a
counter's key never holds a NULL and the figures of a deleted mass email stay in its campaign.
"""

from django.db import models

from campaigns.models.campaign import Campaign


class LogCounter(models.Model):
    """Non-test log records of one action, per mass email, recipient domain and link.

    Rows with tracking_url_id 0 of Clicked and bounce_type "" of Bounced count recipients (the
    first such record of a queue item); the others count records, which are unique per item and
    link, or item and bounce kind.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    mass_email_id = models.BigIntegerField(default=0)
    action = models.CharField(max_length=20)
    bounce_type = models.CharField(max_length=10, blank=True)
    domain = models.CharField(max_length=255, blank=True)
    tracking_url_id = models.BigIntegerField(default=0)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "campaign",
                    "mass_email_id",
                    "action",
                    "bounce_type",
                    "domain",
                    "tracking_url_id",
                ],
                name="logcounter_one_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.domain} {self.count}"


class HitCounter(models.Model):
    """Non-test tracking hits per mass email, hour, kind, link and verdict.

    Kinds "open" and "click" count hits; "opener" and "clicker" count the recipients whose
    first human open (a click counts) or click fell in that hour.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="+")
    mass_email_id = models.BigIntegerField(default=0)
    hour = models.DateTimeField()
    kind = models.CharField(max_length=10)
    tracking_url_id = models.BigIntegerField(default=0)
    is_machine = models.BooleanField(default=False)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "campaign",
                    "mass_email_id",
                    "hour",
                    "kind",
                    "tracking_url_id",
                    "is_machine",
                ],
                name="hitcounter_one_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.hour:%Y-%m-%d %H}h {self.count}"


class CounterWatermark(models.Model):
    """Up to which id a source table (log, hits) has been folded into the counters."""

    source = models.CharField(max_length=20, unique=True)
    last_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.source} {self.last_id}"


class TailBlock(models.Model):
    """The counts of one block of ids of a source table (log, hits) not folded yet, as
    campaigns.results.counters.tail_groups keeps them, with the block's row count and machine hit
    count when they were counted: a page checks those against the table and counts a block again
    only when they differ, so it counts each new row once, not once per page view."""

    source = models.CharField(max_length=20)
    block = models.BigIntegerField()  # ids block * TAIL_BLOCK + 1 .. (block + 1) * TAIL_BLOCK
    rows = models.BigIntegerField()
    machine = models.BigIntegerField(default=0)
    groups = models.JSONField(default=list)  # [[*key, count], ...]; hours as ISO text

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "block"], name="tailblock_one_per_block")
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.block}"


class WeeklyCounter(models.Model):
    """How many rows of a kind (target list entries added, opt-outs) fell in each week, folded
    by campaigns.results.growth like the other counters, for the dashboard's list growth."""

    kind = models.CharField(max_length=20)
    week = models.DateField()  # the Monday, in the site's time zone
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "week"], name="weeklycounter_one_per_week")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.week} {self.count}"
