"""Reports: saved criteria that fill target lists, on demand and every hour."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.jobs import SYNC_REPORTS
from crm.models import Contact, JobRun, Lead
from targetlists import report_fields, reports
from targetlists.models import Report, ReportCondition, TargetListEntry
from targetlists.tasks import run_report_sync
from tests.factories import (
    ContactFactory,
    EmailAddressFactory,
    LeadFactory,
    TargetListFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def report_of(entity: str, *conditions: tuple[str, str, str], **fields) -> Report:
    report = Report.objects.create(name=f"{entity} report", entity=entity, **fields)
    for field, operator, value in conditions:
        ReportCondition.objects.create(report=report, field=field, operator=operator, value=value)
    return report


def names(queryset) -> list[str]:
    return sorted(str(record) for record in queryset)


def test_conditions_match_with_all_or_any():
    ContactFactory(first_name="Ann", last_name="Berg")
    ContactFactory(first_name="Bob", last_name="Berger", title="CEO")
    ContactFactory(first_name="Cy", last_name="Dane", title="CEO")
    conditions = [("last_name", "starts_with", "berg"), ("title", "equals", "ceo")]

    every = report_of("contact", *conditions)
    either = report_of("contact", *conditions, match="any")

    assert names(reports.matching(every)) == ["Bob Berger"]
    assert names(reports.matching(either)) == ["Ann Berg", "Bob Berger", "Cy Dane"]


def test_dates_choices_and_flags():
    old = LeadFactory(first_name="Old", status="new")
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=90))
    LeadFactory(first_name="Fresh", status="new")
    LeadFactory(first_name="Won", status="converted")
    bounced = LeadFactory(first_name="Gone", status="new")
    bounced.email_address.invalid = True
    bounced.email_address.save()

    recent_new = report_of(
        "lead",
        ("created_at", "last_days", "30"),
        ("status", "equals", "new"),
        ("email_invalid", "false", ""),
    )
    before = report_of("lead", ("created_at", "before", str(timezone.localdate())))

    assert names(reports.matching(recent_new)) == ["Fresh Jones"]
    assert names(reports.matching(before)) == ["Old Jones"]


def test_a_report_of_users():
    UserFactory(username="active-one", first_name="Ida")
    UserFactory(username="gone", first_name="Ida", is_active=False)

    report = report_of("user", ("first_name", "equals", "ida"), ("is_active", "true", ""))

    assert [user.username for user in reports.matching(report)] == ["active-one"]


@pytest.mark.parametrize(
    ("entity", "field", "operator", "value", "message"),
    [
        ("lead", "industry", "equals", "x", "Leads have no field “industry”."),
        ("contact", "last_name", "before", "2026-01-01", "“is before (date)” does not apply to"),
        ("contact", "created_at", "after", "yesterday", "Enter a date as YYYY-MM-DD."),
        ("lead", "status", "equals", "hot", "“hot” is not one of: new, assigned, in_process"),
        ("contact", "last_name", "contains", "", "Enter a value, or use “is empty”."),
        ("contact", "created_at", "last_days", "a week", "Enter a number of days, e.g. 30."),
        ("contact", "last_name", "drop table", "x", "Unknown operator “drop table”."),
    ],
)
def test_a_condition_that_cannot_apply_is_refused_in_words(entity, field, operator, value, message):
    with pytest.raises(ValidationError) as refused:
        reports.validate(entity, field, operator, value)

    assert message in " ".join(refused.value.messages)


def test_syncing_adds_matches_once_and_keeps_manual_entries_and_opt_outs():
    target_list = TargetListFactory()
    smiths = ContactFactory.create_batch(2, last_name="Smith")
    jones = ContactFactory(last_name="Jones")
    lead = LeadFactory()
    TargetListEntry.objects.create(target_list=target_list, lead=lead)
    report = report_of("contact", ("last_name", "equals", "smith"), remove_unmatched=True)
    report.target_lists.add(target_list)

    first = reports.sync(report)
    again = reports.sync(report)

    assert (first.added, first.removed, again.added, again.removed) == (2, 0, 0, 0)
    assert {entry.contact for entry in target_list.entries.filter(contact__isnull=False)} == set(
        smiths
    )
    Contact.objects.filter(pk=smiths[0].pk).update(last_name="Brown")
    TargetListEntry.objects.create(target_list=target_list, contact=jones, opted_out=True)
    later = reports.sync(report)

    assert (later.added, later.removed) == (0, 1)
    kept = target_list.entries.all()
    assert {entry.target for entry in kept} == {smiths[1], jones, lead}
    report.refresh_from_db()
    assert report.last_sync_summary == "0 added, 1 removed in 1 target list"


def test_the_hourly_job_syncs_only_reports_set_to_and_is_scheduled(capsys):
    hourly_list, manual_list = TargetListFactory.create_batch(2)
    ContactFactory(last_name="Smith")
    hourly = report_of("contact", sync_hourly=True)
    hourly.target_lists.add(hourly_list)
    manual = report_of("contact")
    manual.target_lists.add(manual_list)

    call_command("sync_reports")

    assert capsys.readouterr().out.strip() == "contact report: 1 added, 0 removed in 1 target list"
    assert (hourly_list.entries.count(), manual_list.entries.count()) == (1, 0)
    assert JobRun.objects.get(job=SYNC_REPORTS).status == "success"
    entry = PeriodicTask.objects.get(name=SYNC_REPORTS)
    assert (entry.task, entry.crontab.minute) == ("targetlists.tasks.sync_reports", "0")
    Report.objects.update(sync_hourly=False)
    assert run_report_sync() == "no report is set to sync every hour"


def report_form(target_list, *conditions, **fields) -> dict:
    data = {
        "name": "Smiths",
        "entity": "contact",
        "match": "all",
        "target_lists": [target_list.pk],
        "conditions-TOTAL_FORMS": str(len(conditions)),
        "conditions-INITIAL_FORMS": "0",
        "conditions-MIN_NUM_FORMS": "0",
        "conditions-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for n, (field, operator, value) in enumerate(conditions):
        data |= {
            f"conditions-{n}-field": field,
            f"conditions-{n}-operator": operator,
            f"conditions-{n}-value": value,
        }
    return data


def test_a_marketer_builds_a_report_sees_its_matches_and_syncs_it(marketer_client):
    target_list = TargetListFactory()
    ContactFactory(first_name="<script>alert(1)</script>", last_name="Smith")
    ContactFactory(last_name="Other")
    add_url = reverse("admin:targetlists_report_add")

    response = marketer_client.post(
        add_url, report_form(target_list, ("last_name", "equals", "smith"))
    )

    assert response.status_code == 302
    report = Report.objects.get()
    page = marketer_client.get(reverse("admin:targetlists_report_change", args=[report.pk]))
    assert b"<strong>1 record</strong>" in page.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; Smith" in page.content
    assert b"<script>alert(1)</script>" not in page.content
    synced = marketer_client.post(
        reverse("admin:targetlists_report_changelist"),
        {"action": "sync_now", "_selected_action": [report.pk]},
        follow=True,
    )
    assert [str(m) for m in synced.context["messages"]] == [
        "Smiths: 1 added, 0 removed in 1 target list"
    ]
    assert target_list.entries.count() == 1


def test_the_admin_refuses_a_condition_the_records_do_not_have(marketer_client):
    target_list = TargetListFactory()

    response = marketer_client.post(
        reverse("admin:targetlists_report_add"),
        report_form(target_list, ("status", "equals", "new")),  # contacts have no status
    )

    assert response.status_code == 200
    assert "Contacts have no field “status”." in response.content.decode()
    assert not Report.objects.exists()


def test_a_report_finds_an_international_address_and_refuses_an_over_long_value(
    marketer_client,
):
    target_list = TargetListFactory()
    ContactFactory(email_address=EmailAddressFactory(address="josé@exämple.com"))
    ContactFactory()
    add_url = reverse("admin:targetlists_report_add")

    too_long = marketer_client.post(
        add_url, report_form(target_list, ("email", "equals", "x" * 306))
    )
    saved = marketer_client.post(
        add_url, report_form(target_list, ("email", "equals", "JOSé@EXäMPLE.COM"))
    )

    assert too_long.status_code == 200
    assert "at most 255 characters" in too_long.content.decode()
    assert saved.status_code == 302
    assert [c.email for c in reports.matching(Report.objects.get())] == ["josé@exämple.com"]


def test_a_condition_reads_in_the_marketers_words():
    report = report_of(Report.Entity.CONTACT, ("email", "ends_with", "globex.test"))
    report_of(Report.Entity.LEAD, ("email_invalid", "true", ""))
    assert str(report.conditions.get()) == "email address ends with globex.test"
    assert str(ReportCondition.objects.get(field="email_invalid")) == "address invalid is yes"


def test_the_field_menu_offers_the_fields_of_the_reports_kind_of_record(marketer_client):
    report = report_of(Report.Entity.USER)
    page = marketer_client.get(reverse("admin:targetlists_report_change", args=[report.pk]))
    field = page.context["inline_admin_formsets"][0].formset.forms[0].fields["field"]
    keys = [key for key, _label in field.choices]
    assert "username" in keys and "last_name" in keys
    assert "industry" not in keys and "status" not in keys
    added = marketer_client.get(reverse("admin:targetlists_report_add"))
    groups = added.context["inline_admin_formsets"][0].formset.forms[0].fields["field"].choices
    assert [str(label) for label, _fields in groups] == [
        str(Report.Entity(kind).label) for kind in report_fields.FIELDS
    ]
