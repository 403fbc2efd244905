"""Results as the results pages show them, and the campaign log's events."""

from rest_framework import serializers

from campaigns.models import CampaignLogRecord
from campaigns.results.figures import Figures, Results

Action = CampaignLogRecord.Action


class FiguresSerializer(serializers.Serializer):
    sent = serializers.IntegerField()
    delivered = serializers.IntegerField(help_text="Sent less bounced.")
    opened = serializers.IntegerField(help_text="Recipients who opened (people and machines).")
    human_opened = serializers.IntegerField(help_text="Of them, opened by a person.")
    clicked = serializers.IntegerField()
    human_clicked = serializers.IntegerField()
    opted_out = serializers.IntegerField()
    bounced = serializers.IntegerField()
    bounces_by_kind = serializers.DictField(child=serializers.IntegerField())
    other_actions = serializers.DictField(
        child=serializers.IntegerField(), help_text="e.g. lead_created, opted_in: records."
    )
    open_rate = serializers.FloatField(allow_null=True, help_text="% of delivered.")
    click_rate = serializers.FloatField(allow_null=True, help_text="% of delivered.")
    click_to_open = serializers.FloatField(allow_null=True, help_text="% of opened.")
    bounce_rate = serializers.FloatField(allow_null=True, help_text="% of sent.")


class ChartPointSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    opens = serializers.IntegerField()
    clicks = serializers.IntegerField()
    machine_opens = serializers.IntegerField()
    machine_clicks = serializers.IntegerField()


class LinkSerializer(serializers.Serializer):
    tracking_url = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    url = serializers.CharField(allow_blank=True)
    clicks = serializers.IntegerField(help_text="Hits.")
    human_clicks = serializers.IntegerField()
    clickers = serializers.IntegerField(help_text="Distinct recipients.")
    share = serializers.FloatField(allow_null=True, help_text="% of all clicks.")


class DomainSerializer(FiguresSerializer):
    domain = serializers.CharField()


class MassEmailFiguresSerializer(FiguresSerializer):
    mass_email = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()


class CountSerializer(serializers.Serializer):
    reason = serializers.CharField()
    count = serializers.IntegerField()


class ResultsSerializer(serializers.Serializer):
    figures = FiguresSerializer()
    chart_unit = serializers.ChoiceField(choices=["hour", "day"])
    chart = ChartPointSerializer(many=True)
    links = LinkSerializer(many=True)
    domains = DomainSerializer(many=True)
    mass_emails = MassEmailFiguresSerializer(many=True, help_text="A campaign's only.")
    reasons = CountSerializer(many=True, help_text="Bounce and failure reasons, by their words.")
    opt_out_reasons = CountSerializer(many=True)


def figures(found: Figures) -> dict:
    names = ("sent", "delivered", "opened", "human_opened", "clicked", "human_clicked")
    names += ("opted_out", "bounced", "bounces_by_kind", "other_actions")
    rates = ("open_rate", "click_rate", "click_to_open", "bounce_rate")
    return {name: getattr(found, name) for name in names + rates}


def results(found: Results) -> dict:
    """The document of a results page."""
    return {
        "figures": figures(found.figures),
        "chart_unit": found.chart_unit,
        "chart": [vars(point) for point in found.chart],
        "links": [
            {
                "tracking_url": row.link_id,
                "name": row.link.name if row.link else "",
                "url": row.link.url if row.link else "",
                "clicks": row.clicks,
                "human_clicks": row.human_clicks,
                "clickers": row.clickers,
                "share": row.share,
            }
            for row in found.links
        ],
        "domains": [{"domain": name, **figures(row)} for name, row in found.domains],
        "mass_emails": [
            {"mass_email": email.pk, "name": email.name, "status": email.status, **figures(row)}
            for email, row in found.mass_emails
        ],
        "reasons": [{"reason": words, "count": n} for words, n in found.reasons],
        "opt_out_reasons": [{"reason": words, "count": n} for words, n in found.opt_out_reasons],
    }


class PersonRefSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["account", "contact", "lead", "user"])
    id = serializers.IntegerField()


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The event's position in the stream.")
    type = serializers.ChoiceField(choices=Action.values)
    at = serializers.DateTimeField()
    campaign = serializers.IntegerField()
    mass_email = serializers.IntegerField(allow_null=True)
    email = serializers.CharField(allow_blank=True)
    person = PersonRefSerializer(allow_null=True)
    tracking_url = serializers.IntegerField(allow_null=True)
    bounce_type = serializers.CharField(allow_null=True)
    bounce_detail = serializers.CharField(allow_blank=True)
    exit_reason = serializers.ChoiceField(
        choices=CampaignLogRecord.ExitReason.values,
        allow_null=True,
        help_text="Of an automation_exit (left an automation before its end): why. Null for "
        "the other types.",
    )
    human = serializers.BooleanField(
        allow_null=True,
        help_text="Opened, clicked, opted out: true if a person's hit backs it, false if only "
        "machines' (a privacy proxy's prefetch, a link scanner), null if none is known (e.g. "
        "an ESP reported it). Null for the other types.",
    )
    is_test = serializers.BooleanField()
