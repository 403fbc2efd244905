"""Results and events through the API, read from the same functions as the results pages."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignLogRecord
from campaigns.results import log_stream
from tests.api.conftest import problem_of
from tests.campaigns.test_results import hit, log, scenario, sent_to
from tests.factories import CampaignFactory, MassEmailFactory, TrackingUrlFactory

pytestmark = pytest.mark.django_db


def test_a_campaigns_results_are_the_results_pages_figures(admin_api):
    campaign, first, _second, home, shop = scenario()

    body = admin_api.get(f"/api/v1/campaigns/{campaign.pk}/results/").json()

    figures = body["figures"]
    assert (figures["sent"], figures["opened"], figures["clicked"]) == (3, 2, 1)
    assert (figures["bounced"], figures["delivered"], figures["opted_out"]) == (1, 2, 1)
    assert figures["bounces_by_kind"] == {"soft": 1, "hard": 1}
    assert (figures["human_opened"], figures["human_clicked"]) == (1, 1)
    assert figures["click_to_open"] == 50.0
    links = {row["tracking_url"]: row for row in body["links"]}
    assert (links[home.pk]["clicks"], links[home.pk]["human_clicks"]) == (1, 1)
    assert (links[shop.pk]["human_clicks"], links[shop.pk]["share"]) == (0, 50.0)
    assert [row["domain"] for row in body["domains"]] == ["globex.test", "initech.test"]
    by_mass_email = {row["mass_email"]: row for row in body["mass_emails"]}
    assert by_mass_email[first.pk]["sent"] == 2
    assert sum(point["opens"] for point in body["chart"]) == 2


def test_a_mass_emails_results(admin_api):
    _campaign, first, *_links = scenario()

    body = admin_api.get(f"/api/v1/mass-emails/{first.pk}/results/").json()

    assert body["figures"]["sent"] == 2
    assert body["mass_emails"] == []


def test_results_of_something_unknown_are_not_found(admin_api):
    assert problem_of(admin_api.get("/api/v1/campaigns/999999/results/"))["code"] == "not_found"
    assert admin_api.get(f"/api/v1/mass-emails/{2**64}/results/").status_code == 404


def test_events_come_in_stream_order_with_a_cursor_to_keep(admin_api):
    mass_email = MassEmailFactory()
    link = TrackingUrlFactory(campaign=mass_email.campaign)
    item = sent_to(mass_email, "ann@example.com")
    log(item, "opened")
    log(item, "clicked", tracking_url=link)
    log(item, "bounced", bounce_type="soft", bounce_detail="4.2.2 mailbox full")

    first = admin_api.get("/api/v1/events/", {"limit": 2}).json()
    rest = admin_api.get("/api/v1/events/", {"cursor": first["next_cursor"]}).json()
    later = admin_api.get("/api/v1/events/", {"cursor": rest["next_cursor"]}).json()
    log(item, "opted_out")
    new = admin_api.get("/api/v1/events/", {"cursor": rest["next_cursor"]}).json()

    events = first["results"] + rest["results"]
    assert [e["type"] for e in events] == ["sent", "opened", "clicked", "bounced"]
    assert events[2]["tracking_url"] == link.pk
    assert events[3] | {"id": 0, "at": ""} == {
        "id": 0,
        "type": "bounced",
        "at": "",
        "campaign": mass_email.campaign_id,
        "mass_email": mass_email.pk,
        "email": "ann@example.com",
        "person": {"type": "contact", "id": item.contact_id},
        "tracking_url": None,
        "bounce_type": "soft",
        "bounce_detail": "4.2.2 mailbox full",
        "exit_reason": None,
        "human": None,
        "is_test": False,
    }
    assert later["results"] == [] and later["next_cursor"] == rest["next_cursor"]
    assert [e["type"] for e in new["results"]] == ["opted_out"]


def test_opens_and_clicks_are_told_human_or_machine(admin_api):
    mass_email = MassEmailFactory()
    link = TrackingUrlFactory(campaign=mass_email.campaign)
    person, proxied, reported = (sent_to(mass_email, f"{n}@example.com") for n in "abc")
    for item in (person, proxied, reported):
        log(item, "opened")
    log(person, "clicked", tracking_url=link)
    hit(person, "open")
    hit(person, "click", tracking_url=link, machine=True)
    hit(proxied, "open", machine=True)

    events = admin_api.get("/api/v1/events/", {"type": "opened"}).json()["results"]
    clicks = admin_api.get("/api/v1/events/", {"type": "clicked"}).json()["results"]

    assert [e["human"] for e in events] == [True, False, None]
    assert [e["human"] for e in clicks] == [False]


def test_events_are_filtered(admin_api):
    first, second = MassEmailFactory(), MassEmailFactory()
    a = sent_to(first, "a@example.com")
    sent_to(second, "b@example.com")
    test = sent_to(first, "me@example.com", is_test=True)
    log(a, "opened")

    def types(**params):
        found = admin_api.get("/api/v1/events/", params).json()["results"]
        return [(e["email"], e["type"]) for e in found]

    assert types(campaign=first.campaign_id) == [
        ("a@example.com", "sent"),
        ("a@example.com", "opened"),
    ]
    assert types(mass_email=second.pk) == [("b@example.com", "sent")]
    assert types(email="A@EXAMPLE.COM", type="opened") == [("a@example.com", "opened")]
    assert types(email="nobody@example.com") == []
    assert ("me@example.com", "sent") in types(tests="true")
    assert test.is_test


def test_since_finds_the_events_from_a_time(admin_api):
    mass_email = MassEmailFactory()
    item = sent_to(mass_email, "a@example.com")
    old = CampaignLogRecord.objects.get()
    CampaignLogRecord.objects.filter(pk=old.pk).update(
        action_date=timezone.now() - timedelta(days=2)
    )
    log(item, "opened")
    since = (timezone.now() - timedelta(days=1)).isoformat()

    events = admin_api.get("/api/v1/events/", {"since": since}).json()["results"]

    assert [e["type"] for e in events] == ["opened"]


def test_first_id_since_searches_the_primary_key():
    campaign = CampaignFactory()
    start = timezone.now() - timedelta(days=100)
    CampaignLogRecord.objects.bulk_create(
        [CampaignLogRecord(campaign=campaign, action="sent") for _ in range(300)]
    )
    rows = list(CampaignLogRecord.objects.order_by("id"))
    for n, row in enumerate(rows):
        CampaignLogRecord.objects.filter(pk=row.pk).update(
            action_date=start + timedelta(hours=n * 3)
        )

    found = log_stream.first_id_since(start + timedelta(hours=3 * 150))
    # A record up to SKEW (an hour) older than the time asked is still read (then filtered).
    with_skew = log_stream.first_id_since(start + timedelta(hours=3 * 150, minutes=30))
    none_newer = log_stream.first_id_since(timezone.now() + timedelta(days=1))
    all_of_them = log_stream.first_id_since(start - timedelta(days=1))

    assert found == with_skew == rows[150].pk
    assert none_newer == rows[-1].pk + 1
    assert all_of_them == rows[0].pk
    assert log_stream.first_id_since(start) == rows[0].pk
    for n in range(0, 300, 7):  # every step of the search, whichever way it turns
        moment = start + timedelta(hours=n * 3 + 1, minutes=n % 60)
        expected = next(
            row.pk
            for k, row in enumerate(rows)
            if start + timedelta(hours=k * 3) >= moment - log_stream.SKEW
        )
        assert log_stream.first_id_since(moment) == expected, n


@pytest.mark.parametrize(
    "params",
    [{"since": "1999-13-01"}, {"type": "read"}, {"campaign": "-1"}, {"cursor": "bogus"}],
)
def test_events_refuse_values_their_filters_cannot_take(admin_api, params):
    response = admin_api.get("/api/v1/events/", params)

    assert response.status_code == 400
    assert problem_of(response)["code"] in ("invalid_parameter", "invalid_cursor")


def test_an_automation_exit_is_an_event_with_its_reason(admin_api):
    from automation import engine
    from crm import events
    from tests.automation.helpers import HOUR, T0, automation, join, send, wait
    from tests.factories import ContactFactory

    made = automation(wait(days=1), send())
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)
    events.record_event(events.EMAIL_COMPLAINED, {}, person=ann)
    engine.tick(T0 + HOUR)

    found = admin_api.get("/api/v1/events/", {"type": "automation_exit"}).json()["results"]

    (event,) = found
    assert event["campaign"] == made.campaign_id
    assert event["person"] == {"type": "contact", "id": ann.pk}
    assert (event["exit_reason"], event["email"]) == ("complained", ann.email)
    assert event["mass_email"] is None and event["human"] is None
