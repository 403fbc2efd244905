"""The admin's first page is the marketers' dashboard; the list of models is at /admin/models/."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import override

from campaigns import dashboard as board
from campaigns.models import EmailQueueItem, MassEmailSettings, WeeklyCounter
from campaigns.results import counters as result_counters
from crm.groups import ADMINISTRATORS, MARKETING
from crm.models import ConsentRecord
from tests.campaigns.test_results import hit, log, scenario, sent_to
from tests.factories import (
    CampaignFactory,
    MassEmailFactory,
    PendingQueueItemFactory,
    SentQueueItemFactory,
    TargetListEntryFactory,
    UserFactory,
    group_named,
)

pytestmark = pytest.mark.django_db


def in_group(name: str):
    user = UserFactory(is_staff=True)
    user.groups.add(group_named(name))
    return user


@pytest.fixture
def marketer():
    return in_group(MARKETING)


@pytest.fixture
def administrator():
    return in_group(ADMINISTRATORS)


def test_the_first_page_asks_a_visitor_to_log_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.get("/admin/models/").status_code == 302


def test_an_empty_database_shows_every_section_empty(client, marketer):
    client.force_login(marketer)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    text = response.content.decode()
    for part in ("dashboard-sending", "dashboard-scheduled", "dashboard-last"):
        assert f'id="{part}"' in text
    assert "Nothing is being sent right now." in text
    assert "No mass email is waiting to start." in text
    assert "No mass email has gone out yet." in text
    assert "Nothing was sent in the last 30 days." in text
    assert 'data-weeks="12"' in text
    assert reverse("admin_models") in text


@pytest.mark.parametrize("group", [MARKETING, ADMINISTRATORS])
def test_both_groups_reach_the_models_a_click_away(client, group):
    client.force_login(in_group(group))
    dashboard = client.get("/admin/").content.decode()
    assert 'id="header-models"' in dashboard and 'id="dashboard-models"' in dashboard
    models = client.get("/admin/models/")
    assert models.status_code == 200
    text = models.content.decode()
    assert 'id="models-dashboard"' in text
    assert "/admin/campaigns/massemail/" in text
    # Administrators see the settings; marketers do not.
    assert ("/admin/auth/group/" in text) == (group == ADMINISTRATORS)


def test_a_staff_user_without_mass_emails_sees_only_the_way_to_the_models(client):
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/admin/")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="dashboard-no-access"' in text and 'id="dashboard-sending"' not in text


def test_it_shows_sending_scheduled_last_growth_and_deliverability(client, marketer):
    now = timezone.now()
    campaign, first, second, _home, _shop = scenario()
    for mass_email in (first, second):
        mass_email.start_at = now - timedelta(days=1)
        mass_email.save()
    sending = MassEmailFactory(campaign=campaign, status="in_process", name="Wave now")
    sending.start_at = now - timedelta(minutes=5)
    sending.save()
    done = sent_to(sending, "dee@globex.test")
    EmailQueueItem.objects.filter(pk=done.pk).update(sent_at=now - timedelta(seconds=20))
    for _n in range(3):
        PendingQueueItemFactory(mass_email=sending)
    later = MassEmailFactory(
        campaign=CampaignFactory(), status="pending", start_at=now + timedelta(days=2)
    )
    soon = MassEmailFactory(campaign=campaign, status="pending", start_at=now + timedelta(hours=1))
    MassEmailFactory(campaign=campaign, status="draft")
    for _n in range(3):
        TargetListEntryFactory()
    ConsentRecord.objects.create(
        email="cy@initech.test", action="opt_out", method="complaint", source="x"
    )
    ConsentRecord.objects.create(email="bob@globex.test", action="opt_out", method="page")
    result_counters.update_counters()

    found = board.dashboard()
    assert [row.mass_email for row in found.sending] == [sending]
    row = found.sending[0]
    assert (row.total, row.sent, row.pending, row.percent_sent) == (4, 1, 3, 25.0)
    assert row.per_second == pytest.approx(1 / 60)
    assert row.finish is not None and row.finish > now
    assert found.scheduled == [soon, later]
    last = {row.mass_email: row for row in found.last}
    assert set(last) == {sending, first, second}
    # first: 2 sent, none bounced; one person opened (ann; bob's open was a machine's) and
    # clicked.
    assert (last[first].figures.sent, last[first].human_open_rate) == (2, 50.0)
    assert last[first].human_click_rate == 50.0
    assert last[second].human_open_rate is None  # one sent, bounced: nothing delivered
    assert [week.people_in for week in found.growth][-1] == 3
    assert [week.people_out for week in found.growth][-1] == 2
    d = found.deliverability
    assert (d.mass_emails, d.sent) == (3, 4)
    assert (d.bounces.count, d.bounces.percent, d.bounces.healthy) == (1, 25.0, False)
    assert (d.complaints.count, d.complaints.percent, d.complaints.healthy) == (1, 25.0, False)

    client.force_login(marketer)
    text = client.get("/admin/").content.decode()
    assert "Wave now" in text and str(soon) in text
    assert reverse("admin:campaigns_massemail_results", args=[first.pk]) in text
    assert reverse("admin:campaigns_massemail_change", args=[sending.pk]) in text
    assert "health-bad" in text and "?method__exact=complaint" in text


def test_the_figures_include_hits_not_folded_yet(client, marketer):
    campaign, first, _second, _home, _shop = scenario()
    result_counters.update_counters()
    before = board.last_mass_emails()
    new = sent_to(first, "eve@globex.test")
    log(new, "opened")
    hit(new, "open", at=timezone.now())  # live: newer than the settle time
    after = {row.mass_email: row.figures for row in board.last_mass_emails()}
    figures_before = {row.mass_email: row.figures for row in before}
    assert after[first].sent == figures_before[first].sent + 1
    assert after[first].human_opened == figures_before[first].human_opened + 1
    assert campaign.pk


def test_healthy_rates_are_marked_healthy():
    rate = board.Rate(count=2, sent=1000, limit=board.COMPLAINT_LIMIT)
    assert (rate.percent, rate.healthy) == (0.2, True)
    assert board.Rate(count=3, sent=1000, limit=board.COMPLAINT_LIMIT).healthy is False
    assert board.Rate(count=0, sent=0, limit=board.BOUNCE_LIMIT).healthy is None


def test_it_speaks_spanish(client, marketer):
    client.force_login(marketer)
    with override("es"):
        response = client.get("/admin/", headers={"accept-language": "es"})
    text = response.content.decode()
    assert "Enviando ahora" in text and "Crecimiento de las listas" in text
    assert "No se envió nada en los últimos 30 días." in text and "Todos los modelos" in text


def test_list_growth_reads_weekly_counters_and_the_rows_after_them():
    now = timezone.now()
    for _n in range(2):
        TargetListEntryFactory()
    ConsentRecord.objects.create(email="a@e.test", action="opt_out", method="page")
    ConsentRecord.objects.create(email="b@e.test", action="opt_in", method="form")
    live = board.list_growth(now)
    assert (live[-1].people_in, live[-1].people_out) == (2, 1)
    result_counters.update_counters()
    assert WeeklyCounter.objects.filter(kind="entries").get().count == 2
    TargetListEntryFactory()  # after the watermark: read live
    grown = board.list_growth(now)
    assert (grown[-1].people_in, grown[-1].people_out) == (3, 1)
    assert sum(week.people_in for week in grown[:-1]) == 0
    result_counters.rebuild_counters()
    assert board.list_growth(now) == grown


def test_a_mass_email_that_sent_nothing_this_minute_ends_at_the_hourly_limit():
    now = timezone.now()
    settings_row = MassEmailSettings.load()
    settings_row.max_per_hour = 100
    settings_row.save()
    first = MassEmailFactory(status="in_process", start_at=now - timedelta(hours=2))
    second = MassEmailFactory(status="in_process", start_at=now - timedelta(hours=1))
    for mass_email, left in ((first, 50), (second, 100)):
        for _n in range(left):
            PendingQueueItemFactory(mass_email=mass_email)
    rows = {row.mass_email: row for row in board.sending_now(now)}
    assert rows[first].per_second == 0
    # 50 left at 100 an hour: half an hour; the second waits for the first: 150 in 1.5 hours.
    assert rows[first].finish == now + timedelta(minutes=30)
    assert rows[second].finish == now + timedelta(minutes=90)


def test_a_fast_mass_email_that_the_hourly_limit_holds_back_ends_at_the_limit():
    now = timezone.now()
    settings_row = MassEmailSettings.load()
    settings_row.max_per_hour = 100
    settings_row.save()
    mass_email = MassEmailFactory(status="in_process")
    sent = SentQueueItemFactory.create_batch(
        60, mass_email=mass_email, sent_at=now - timedelta(seconds=30)
    )
    PendingQueueItemFactory.create_batch(200, mass_email=mass_email)

    (row,) = board.sending_now(now)

    # 60 in the last minute is a second's worth of 200, but the hourly window has room for 40
    # more: the 200 take two hours at 100 an hour, not 200 seconds.
    assert row.per_second == 1 and len(sent) == 60
    assert row.finish == now + timedelta(hours=2)
