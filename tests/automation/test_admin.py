"""The automation's admin page: steps as a readable list with people per step, activate and
pause, the editor refusing what cannot run, and "Add to automation" by hand."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import translation

from automation import engine
from automation.models import Automation
from tests.automation.helpers import T0, automation, join, send, wait
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    TargetListEntryFactory,
    TargetListFactory,
    group_named,
)

pytestmark = pytest.mark.django_db


def test_the_page_lists_the_steps_with_people_waiting_and_passed(admin_client):
    made = automation(send(), wait(days=2), send())
    for person in ContactFactory.create_batch(3):
        join(made.trigger_list, person)
    engine.tick(T0)

    page = admin_client.get(reverse("admin:automation_automation_change", args=[made.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Wait 2 days 0 hours" in text
    assert "0 waiting now, 3 passed, 0 sent, 0 opened" in text  # step 1: queued, not sent yet
    assert "3 waiting now, 0 passed" in text  # step 2
    assert "3 Active" in text


def test_the_same_page_in_spanish(admin_client):
    made = automation(send(), wait(days=2))
    with translation.override("es"):
        admin_client.cookies["django_language"] = "es"
        page = admin_client.get(
            reverse("admin:automation_automation_change", args=[made.pk]),
            headers={"accept-language": "es"},
        )
    text = page.content.decode()
    assert "Esperar 2 días 0 horas" in text
    assert "esperando ahora" in text


def automation_form(made: Automation, **steps) -> dict:
    data = {
        "name": made.name,
        "campaign": made.campaign.pk,
        "trigger": made.trigger,
        "trigger_list": made.trigger_list.pk,
        "trigger_days": 0,
        "trigger_hour": 9,
        "reentry": "never",
        "reentry_days": 30,
        "steps-TOTAL_FORMS": 1,
        "steps-INITIAL_FORMS": 0,
        "steps-MIN_NUM_FORMS": 0,
        "steps-MAX_NUM_FORMS": 1000,
        "steps-0-order": 1,
        "steps-0-wait_days": 0,
        "steps-0-wait_hours": 0,
        "steps-0-condition_wait_days": 0,
    }
    data.update({f"steps-0-{key}": value for key, value in steps.items()})
    return data


def test_the_editor_refuses_a_send_without_a_template(admin_client):
    made = automation(activate=False, campaign=CampaignFactory())
    url = reverse("admin:automation_automation_change", args=[made.pk])

    page = admin_client.post(url, automation_form(made, kind="send"))

    assert page.status_code == 200
    assert "a send step needs an email template." in page.content.decode()
    assert not made.steps.exists()


def test_activate_refuses_what_cannot_run_and_pause_stops_it(admin_client):
    empty, ready = automation(activate=False), automation(send(), activate=False)
    url = reverse("admin:automation_automation_changelist")

    page = admin_client.post(
        url, {"action": "activate", ACTION_CHECKBOX_NAME: [empty.pk, ready.pk]}, follow=True
    )

    assert "An automation needs at least one step." in page.content.decode()
    empty.refresh_from_db()
    ready.refresh_from_db()
    assert (empty.status, ready.status) == ("draft", "active")
    admin_client.post(url, {"action": "pause", ACTION_CHECKBOX_NAME: [ready.pk]})
    ready.refresh_from_db()
    assert ready.status == "paused"


@pytest.mark.parametrize("source", ["contacts", "target list"])
def test_add_to_automation_by_hand(admin_client, source):
    made = automation(send(), trigger=Automation.Trigger.MANUAL)
    people = ContactFactory.create_batch(2)
    if source == "contacts":
        url, selected = reverse("admin:crm_contact_changelist"), [p.pk for p in people]
    else:
        target_list = TargetListFactory()
        for person in people:
            TargetListEntryFactory(target_list=target_list, contact=person, account=None)
        TargetListEntryFactory(target_list=target_list, opted_out=True)
        url, selected = reverse("admin:targetlists_targetlist_changelist"), [target_list.pk]
    common = {"action": "add_to_automation", ACTION_CHECKBOX_NAME: selected}

    page = admin_client.post(url, {**common, "index": "0"})
    assert b'name="apply"' in page.content
    done = admin_client.post(url, {**common, "apply": "yes", "automation": made.pk}, follow=True)

    assert "2 people added to" in done.content.decode()
    assert set(made.enrolments.values_list("person_id", flat=True)) == {p.pk for p in people}


def test_a_persons_page_shows_their_automations_the_step_the_next_time_and_the_past(
    admin_client,
):
    made = automation(send(), wait(days=2), send(), name="Onboarding")
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)

    page = admin_client.get(reverse("admin:crm_contact_change", args=[ann.pk]))

    text = page.content.decode()
    assert "Onboarding" in text
    assert "at step 2. Wait 2 days 0 hours, next on" in text
    assert "1. queued (2026-03-02 08:00)" in text


def test_a_persons_page_shows_the_times_in_the_installations_zone(admin_client, settings):
    settings.TIME_ZONE = "Europe/Madrid"  # UTC+1 in March
    made = automation(send(), wait(days=2), send(), name="Onboarding")
    ann = ContactFactory()
    join(made.trigger_list, ann)
    engine.tick(T0)  # 08:00 UTC

    page = admin_client.get(reverse("admin:crm_contact_change", args=[ann.pk]))

    text = page.content.decode()
    assert "<td>2026-03-02 09:00</td>" in text  # entered
    assert "next on 2026-03-04 09:00" in text
    assert "1. queued (2026-03-02 09:00)" in text


def test_a_users_page_shows_the_automations_they_were_added_to(admin_client):
    from tests.factories import UserFactory

    made = automation(send(), wait(days=2), trigger=Automation.Trigger.MANUAL, name="Staff tips")
    user = UserFactory(email="staff@example.com")
    engine.add_by_hand(made, [("user", user.pk)], T0)

    page = admin_client.get(reverse("admin:auth_user_change", args=[user.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "Staff tips" in text
    assert "at step 1. Send “" in text


@pytest.mark.parametrize("kind", ["account", "lead"])
def test_every_kind_of_persons_page_has_the_automations(admin_client, kind):
    from tests.factories import AccountFactory, LeadFactory

    person = {"account": AccountFactory, "lead": LeadFactory}[kind]()
    page = admin_client.get(reverse(f"admin:crm_{kind}_change", args=[person.pk]))
    assert page.status_code == 200
    assert page.content.decode().count("In no automation.") == 1


def test_preview_as_a_person_shows_what_they_would_receive_and_when(admin_client):
    from automation.models import Step
    from tests.factories import EmailTemplateFactory

    made = automation(
        send(EmailTemplateFactory(subject="Welcome, {Person.firstName}")),
        wait(days=3),
        send(EmailTemplateFactory(subject="Tips for {Person.firstName|you}")),
    )
    assert made.steps.count() == 3 and Step.objects.filter(automation=made).exists()
    ann = ContactFactory(first_name="Ann")
    change = admin_client.get(reverse("admin:automation_automation_change", args=[made.pk]))
    url = reverse("admin:automation_automation_preview", args=[made.pk])
    assert url in change.content.decode()

    page = admin_client.get(url, {"person_type": "contact", "person_id": ann.pk})

    text = page.content.decode()
    assert "Welcome, Ann" in text
    assert "Tips for Ann" in text
    assert "Wait 3 days 0 hours" in text
    missing = admin_client.get(url, {"person_type": "contact", "person_id": 999999})
    assert "No such person." in missing.content.decode()


def test_preview_finds_the_person_by_name_and_shows_each_email_as_they_would_get_it(
    admin_client,
):
    from tests.factories import EmailTemplateFactory

    template = EmailTemplateFactory(
        subject="Welcome", body_html="<p>Hello {Person.firstName}, here is your guide.</p>"
    )
    made = automation(send(template))
    ann = ContactFactory(first_name="Annabel")
    url = reverse("admin:automation_automation_preview", args=[made.pk])

    found = admin_client.get(url, {"q": "annab"}).content.decode()
    nobody = admin_client.get(url, {"q": "nobody here"}).content.decode()
    nul = admin_client.get(url, {"q": "nobody\x00here"})
    page = admin_client.get(url, {"person_type": "contact", "person_id": ann.pk})

    assert f"?person_type=contact&amp;person_id={ann.pk}" in found
    assert "Nobody matches." in nobody
    assert nul.status_code == 400 and "Invisible character refused" in nul.content.decode()
    email = reverse("admin:crm_emailtemplate_preview", args=[template.pk])
    link = f"{email}?type=contact&amp;id={ann.pk}"
    assert link in page.content.decode()
    shown = admin_client.get(link.replace("&amp;", "&")).content.decode()
    assert "Hello Annabel, here is your guide." in shown


def test_people_are_moved_to_a_step_only_by_the_marketers_choice(admin_client):
    made = automation(send(), wait(days=5), send(), send())
    people = ContactFactory.create_batch(2)
    for person in people:
        join(made.trigger_list, person)
    engine.tick(T0)
    fourth = made.steps.get(order=4)
    url = reverse("admin:automation_enrolment_changelist")
    common = {
        "action": "move_to_step",
        ACTION_CHECKBOX_NAME: list(made.enrolments.values_list("pk", flat=True)),
    }

    page = admin_client.post(url, {**common, "index": "0"})
    assert b'name="apply"' in page.content
    done = admin_client.post(url, {**common, "apply": "yes", "step": fourth.pk}, follow=True)

    assert "2 moved." in done.content.decode()
    assert set(made.enrolments.values_list("step__order", flat=True)) == {4}
    engine.tick()  # moved now (the clock's time): due at once
    assert {r for r in made.enrolments.values_list("runs__step__order", flat=True)} == {1, 4}


def test_marketing_builds_automations():

    from crm.groups import MARKETING
    from tests.factories import UserFactory

    marketer = UserFactory(is_staff=True)
    marketer.groups.add(group_named(MARKETING))
    assert marketer.has_perm("automation.change_automation")
    assert marketer.has_perm("automation.add_step")
