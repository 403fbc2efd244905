"""A send step's mailing never stops silently: one the send job marks Failed (it cannot be
rendered) pauses its automation with the reason on its page, nobody moves past the step, and
Activate (once it renders) sends it; the mass email's own Pause, Resume and Cancel leave it to
its automation."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from automation import batches, engine
from automation.models import Automation, StepMailing
from campaigns.models import EmailQueueItem, MassEmail
from campaigns.sending.job import run_send_job
from tests.automation.helpers import DAY, HOUR, T0, automation, join, runs, send, wait
from tests.factories import ContactFactory, EmailTemplateFactory, MassEmailFactory, UserFactory

pytestmark = pytest.mark.django_db
BROKEN = '<p><a href="{trackingUrl:999999}">Start</a></p>'  # a tracking URL that does not exist
Status = MassEmail.Status


def queued_to(person) -> list[str]:
    items = EmailQueueItem.objects.filter(email=person.email).order_by("id")
    return [item.mass_email.name for item in items]


def test_a_failed_mailing_pauses_the_automation_with_the_reason_until_it_renders(
    smtp_server, limits, mass_settings, admin_client
):
    template = EmailTemplateFactory(body_html=BROKEN)
    made = automation(send(template), wait(days=1), send())
    ann, bob = ContactFactory(), ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)
    run_send_job()  # it cannot render the step's email: Failed
    join(made.trigger_list, bob)

    report = engine.tick(T0 + HOUR)

    made.refresh_from_db()
    assert made.status == Automation.Status.PAUSED
    assert "The email of step 1" in report.problems[0]
    assert runs(made.enrolments.get(person_id=bob.pk)) == []  # Bob waits at the step
    assert queued_to(bob) == []
    page = admin_client.get(reverse("admin:automation_automation_change", args=[made.pk]))
    assert "failed: The template links to {trackingUrl:999999}" in page.content.decode()
    with pytest.raises(engine.CannotRun, match="The email of step 1 still cannot be rendered"):
        engine.activate(made)

    template.body_html = "<p>Welcome</p>"
    template.save()
    engine.activate(made)
    engine.tick(T0 + 2 * HOUR)
    run_send_job()

    assert runs(made.enrolments.get(person_id=bob.pk)) == [(1, "queued")]
    assert smtp_server.received[ann.email_address.address_lower] == 1
    assert smtp_server.received[bob.email_address.address_lower] == 1


@pytest.mark.parametrize(
    ("kind", "ran", "at"),
    [
        ("contact", [(1, "queued")], 2),  # send steps run together: stopped at step 2
        ("user", [], 1),  # one by one: both steps undone in their transaction
    ],
)
def test_a_send_step_that_meets_a_stopped_mailing_pauses_and_moves_nobody_on(kind, ran, at):
    made = automation(send(), send())
    join(made.trigger_list, ContactFactory())
    engine.tick(T0)  # the steps' mailings exist
    mailing = StepMailing.objects.get(step__order=2).mass_email
    MassEmail.objects.filter(pk=mailing.pk).update(status=Status.FAILED, failure_reason="Bad.")
    person = ContactFactory() if kind == "contact" else UserFactory(email="u@example.com")
    engine.add_by_hand(made, [(kind, person.pk)], T0 + DAY)

    report = engine.TickReport()  # the steps run before the tick's own check sees it
    engine.run_due(T0 + DAY, report, batches.Statistics())

    made.refresh_from_db()
    assert made.status == Automation.Status.PAUSED
    assert "failed: Bad." in report.problems[0]
    enrolment = made.enrolments.get(person_id=person.pk, person_type=kind)
    assert (runs(enrolment), enrolment.step.order, enrolment.leased_by) == (ran, at, "")
    assert not mailing.queue_items.filter(email=person.email).exists()


def test_the_mass_emails_pause_and_cancel_leave_an_automation_steps_email_as_it_is(
    admin_client,
):
    made = automation(send())
    join(made.trigger_list, ContactFactory())
    engine.tick(T0)
    mailing = MassEmail.objects.get(campaign=made.campaign, automated=True)
    other = MassEmailFactory(status=Status.IN_PROCESS)
    url = reverse("admin:campaigns_massemail_changelist")

    for action in ("pause_selected", "cancel_selected"):
        page = admin_client.post(
            url, {"action": action, ACTION_CHECKBOX_NAME: [mailing.pk, other.pk]}, follow=True
        )
        text = page.content.decode()
        assert "1 is the email of an automation step, left as it is." in text
        assert "use Pause and Activate on the automation" in text
    refused = admin_client.post(
        reverse("admin:campaigns_massemail_control", args=[mailing.pk, "pause"]), follow=True
    )

    assert "use Pause and Activate on the automation" in refused.content.decode()
    assert 'id="pause"' not in refused.content.decode()  # no button for it on its page
    mailing.refresh_from_db()
    other.refresh_from_db()
    assert (mailing.status, other.status) == (Status.IN_PROCESS, Status.CANCELED)
