"""A/B tests through the real sending job (run_send_job, no Celery) and a real SMTP server:
the test share goes first, the rest is held until the winner, everyone gets exactly one
message, under pause, cancel, resume and the hourly limit. SQLite and PostgreSQL."""

import datetime
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from campaigns.authoring.duplicate import duplicate_mass_email
from campaigns.authoring.trial_send import send_test
from campaigns.authoring.web_view import page_for
from campaigns.models import (
    CampaignStatus,
    EmailQueueItem,
    MassEmail,
    MassEmailVariant,
)
from campaigns.sending import claims, job
from campaigns.sending.ab_decision import CannotChoose, choose_winner
from campaigns.sending.job import run_recorded_send_job, run_send_job
from campaigns.sending.queue import build_queue
from crm.jobs import SEND_MASS_EMAILS
from crm.models import JobRun
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    EmailTemplateFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TargetListEntryFactory,
    TargetListFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db
Item = EmailQueueItem.Status
State = MassEmail.TestState


def ab_mass_email(size=120, **fields) -> MassEmail:
    target_list = TargetListFactory()
    for _n in range(size):
        TargetListEntryFactory(target_list=target_list, contact=ContactFactory())
    fields = {"test_share": 50, "test_min_sample": 20, "test_wait_hours": 4, **fields}
    mass_email = MassEmailFactory(
        campaign=CampaignFactory(status=CampaignStatus.ACTIVE),
        status=MassEmail.Status.PENDING,
        **fields,
    )
    mass_email.target_lists.add(target_list)
    MassEmailVariant.objects.create(mass_email=mass_email, letter="A", subject="Subject A")
    MassEmailVariant.objects.create(
        mass_email=mass_email, letter="B", subject="Subject B", from_name="Team B"
    )
    return mass_email


def items(mass_email, **filters):
    return EmailQueueItem.objects.filter(mass_email=mass_email, is_test=False, **filters)


def people_click(mass_email, letter: str, share: float, machine=False) -> None:
    chosen = list(items(mass_email, in_test=True, variant__letter=letter).order_by("id"))
    for item in chosen[: int(len(chosen) * share)]:
        TrackingHit.objects.create(
            queue_item=item,
            campaign=mass_email.campaign,
            kind=TrackingHit.Kind.CLICK,
            is_machine=machine,
            reason="scanner" if machine else "",
        )


def wait_passes(mass_email, hours=5) -> None:
    earlier = timezone.now() - datetime.timedelta(hours=hours)
    items(mass_email, status=Item.SENT).update(sent_at=earlier)


def assert_each_got_one(smtp_server, mass_email) -> None:
    sent = items(mass_email).select_related("email_address", "variant")
    for item in sent:
        assert item.status == Item.SENT
        (message,) = smtp_server.messages_to(item.email_address.address)
        assert message["Subject"] == f"Subject {item.variant.letter}"


def test_the_test_share_goes_first_then_the_winner_to_the_rest(smtp_server, limits):
    mass_email = ab_mass_email()

    first = run_send_job()

    in_test = items(mass_email, in_test=True).count()
    assert 40 <= in_test <= 80
    assert first.sent == in_test == items(mass_email, status=Item.SENT).count()
    assert items(mass_email, status=Item.HELD).count() == 120 - in_test
    assert sum(smtp_server.received.values()) == in_test
    assert run_send_job().sent == 0  # the wait has not passed: the rest stays held
    people_click(mass_email, "B", 0.6)
    people_click(mass_email, "A", 1.0, machine=True)  # a scanner's clicks count for nothing
    wait_passes(mass_email)

    decided = run_recorded_send_job()

    assert "Winner: Variant B" in JobRun.objects.get(job=SEND_MASS_EMAILS).summary
    mass_email.refresh_from_db()
    assert mass_email.test_state == State.DECIDED
    assert mass_email.test_winner.letter == "B"
    assert "significant" in mass_email.test_reasoning
    assert "B wins" in "\n".join(decided.notes) and "p < 0.0001" in decided.summary()
    assert decided.sent == 120 - in_test
    assert mass_email.status == MassEmail.Status.COMPLETE
    assert set(items(mass_email, in_test=False).values_list("variant__letter", flat=True)) == {"B"}
    assert_each_got_one(smtp_server, mass_email)
    b_item = items(mass_email, variant__letter="B").select_related("email_address").first()
    (message,) = smtp_server.messages_to(b_item.email_address.address)
    assert "Team B" in message["From"]


def test_the_test_share_goes_out_within_the_hourly_limit_before_anything_held(smtp_server, limits):
    limits.max_per_hour = 15
    limits.save()
    mass_email = ab_mass_email()

    assert run_send_job().sent == 15

    assert items(mass_email, status=Item.SENT, in_test=True).count() == 15
    assert not items(mass_email, status=Item.SENT, in_test=False).exists()
    wait_passes(mass_email)
    run_send_job()
    mass_email.refresh_from_db()
    assert mass_email.test_state == State.TESTING  # test messages are still waiting to go


def test_a_paused_test_waits_and_a_canceled_one_never_sends_the_rest(smtp_server, limits):
    paused, canceled = ab_mass_email(60), ab_mass_email(60, test_fallback="first")
    run_send_job()
    sent_before = sum(smtp_server.received.values())
    job.pause(MassEmail.objects.filter(pk=paused.pk))
    job.cancel(MassEmail.objects.filter(pk=canceled.pk))
    wait_passes(paused)
    wait_passes(canceled)

    assert run_send_job().sent == 0

    paused.refresh_from_db()
    canceled.refresh_from_db()
    assert paused.test_state == canceled.test_state == State.TESTING
    assert items(canceled, status=Item.HELD).exists()
    job.resume(MassEmail.objects.filter(pk=paused.pk))
    resumed = run_send_job()
    paused.refresh_from_db()
    assert paused.test_state == State.WAITING  # too few delivered for a winner; wait chosen
    assert resumed.sent == 0
    choose_winner(paused, paused.variants.get(letter="A"))
    assert run_send_job().sent == items(paused, in_test=False).count()
    assert_each_got_one(smtp_server, paused)
    assert sum(smtp_server.received.values()) == sent_before + items(paused, in_test=False).count()
    assert items(canceled, status=Item.HELD).count() == items(canceled, in_test=False).count()


def test_a_person_chooses_when_the_metric_is_manual(smtp_server, limits):
    mass_email = ab_mass_email(40, test_metric="manual", test_fallback="best")
    other = ab_mass_email(10)
    run_send_job()
    wait_passes(mass_email)

    run_send_job()

    mass_email.refresh_from_db()
    assert mass_email.test_state == State.WAITING and mass_email.test_winner is None
    assert items(mass_email, status=Item.HELD).exists()
    with pytest.raises(CannotChoose):
        choose_winner(mass_email, other.variants.get(letter="A"))
    released = choose_winner(mass_email, mass_email.variants.get(letter="B"))
    assert released == items(mass_email, in_test=False).count()
    with pytest.raises(CannotChoose):
        choose_winner(mass_email, mass_email.variants.get(letter="A"))
    run_send_job()
    assert_each_got_one(smtp_server, mass_email)
    mass_email.refresh_from_db()
    assert mass_email.test_winner.letter == "B" and "chosen by" in mass_email.test_reasoning


def test_a_dead_workers_test_message_keeps_its_variant_and_delays_the_decision(smtp_server, limits):
    mass_email = ab_mass_email(60, test_fallback="first")
    build_queue(mass_email)
    lost = items(mass_email, in_test=True, variant__letter="B").first()
    EmailQueueItem.objects.filter(pk=lost.pk).update(status=Item.SENDING, claimed_at=timezone.now())
    run_send_job()
    wait_passes(mass_email)

    run_send_job()  # a test message is still being sent (by a worker that will die)

    mass_email.refresh_from_db()
    assert mass_email.test_state == State.TESTING
    long_ago = timezone.now() - claims.LEASE - datetime.timedelta(minutes=1)
    EmailQueueItem.objects.filter(pk=lost.pk).update(claimed_at=long_ago)
    assert run_send_job().requeued == 1
    lost.refresh_from_db()
    assert (lost.status, lost.variant.letter) == (Item.SENT, "B")
    mass_email.refresh_from_db()
    assert mass_email.test_state == State.TESTING  # the wait starts again from its sending
    wait_passes(mass_email)
    run_send_job()
    mass_email.refresh_from_db()
    assert mass_email.test_state == State.DECIDED and mass_email.status == "complete"
    assert_each_got_one(smtp_server, mass_email)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="one worker on SQLite")
def test_several_workers_send_the_held_messages_once(smtp_server, limits):
    mass_email = ab_mass_email(150, test_fallback="best", test_share=20)
    run_send_job()
    wait_passes(mass_email)
    errors = []

    def worker():
        try:
            run_send_job()
        except Exception as exc:  # noqa: BLE001  reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    mass_email.refresh_from_db()
    assert mass_email.test_state == State.DECIDED
    assert items(mass_email, status=Item.SENT).count() == 150
    assert sum(smtp_server.received.values()) == 150
    assert_each_got_one(smtp_server, mass_email)


def test_a_test_send_of_an_ab_mass_email_sends_every_variant(smtp_server, limits):
    template = EmailTemplateFactory(subject="Template's", preheader="")
    b_template = EmailTemplateFactory(
        subject="B's template", body_html="<p>Version B</p>", preheader=""
    )
    mass_email = MassEmailFactory(status=MassEmail.Status.DRAFT, email_template=template)
    MassEmailVariant.objects.create(mass_email=mass_email, letter="A", preheader="Early bird")
    MassEmailVariant.objects.create(mass_email=mass_email, letter="B", template=b_template)

    results = send_test(mass_email, addresses=["me@example.org"])

    assert [result.recipient for result in results] == [
        "me@example.org (Variant A)",
        "me@example.org (Variant B)",
    ]
    # The two go over concurrent sessions, so they may arrive in either order.
    received = smtp_server.messages_to("me@example.org")
    by_subject = {message["Subject"]: message for message in received}
    assert sorted(by_subject) == ["B's template", "Template's"]
    assert "Early bird" in by_subject["Template's"].as_string()
    assert "Version B" in by_subject["B's template"].as_string()


def test_duplicate_copies_the_variants_and_the_test_settings_but_no_result():
    mass_email = ab_mass_email(
        2, test_metric="opens", test_state=State.DECIDED, test_reasoning="Because."
    )

    copy = duplicate_mass_email(mass_email)

    assert (copy.test_share, copy.test_metric, copy.test_state, copy.test_reasoning) == (
        50,
        "opens",
        "",
        "",
    )
    assert list(copy.variants.values_list("letter", "subject", "from_name")) == [
        ("A", "Subject A", ""),
        ("B", "Subject B", "Team B"),
    ]


def test_the_web_view_shows_the_recipients_own_variant(mass_settings):
    mass_email = MassEmailFactory(status=MassEmail.Status.COMPLETE)
    b_template = EmailTemplateFactory(body_html="<p>Version B</p>")
    variant = MassEmailVariant.objects.create(
        mass_email=mass_email, letter="B", template=b_template
    )
    item = SentQueueItemFactory(mass_email=mass_email, variant=variant, in_test=True)
    other = SentQueueItemFactory(mass_email=mass_email)

    assert "Version B" in page_for(item)
    assert "Version B" not in page_for(other) and "News for you" in page_for(other)


def test_a_test_waiting_for_its_winner_is_not_compiled_each_run(smtp_server, limits):
    mass_email = ab_mass_email(20)
    run_send_job()
    # Compiling it now would fail the mass email: the run must leave it alone.
    type(mass_email.email_template).objects.filter(pk=mass_email.email_template_id).update(
        body_html="", body_text=""
    )

    run_send_job()

    mass_email.refresh_from_db()
    assert (mass_email.status, mass_email.test_state) == (MassEmail.Status.IN_PROCESS, "testing")
    assert not mass_email.failure_reason
