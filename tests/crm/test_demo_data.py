import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from campaigns.models import MassEmail
from crm.models import EmailTemplate, OutboundEmailSettings
from targetlists import reports
from targetlists.models import Report

pytestmark = pytest.mark.django_db
DEMO_MODELS = [
    "auth.User",
    "auth.Group",
    "crm.Account",
    "crm.Contact",
    "crm.Lead",
    "crm.EmailAddress",
    "crm.EmailTemplate",
    "crm.OutboundEmailSettings",
    "targetlists.TargetList",
    "targetlists.TargetListEntry",
    "campaigns.Campaign",
    "campaigns.TrackingUrl",
    "campaigns.MassEmail",
    "campaigns.MassEmailSettings",
    "targetlists.Report",
    "targetlists.ReportCondition",
]


def row_counts() -> dict[str, int]:
    return {label: apps.get_model(label).objects.count() for label in DEMO_MODELS}


def test_it_loads_the_same_rows_when_run_twice(settings):
    settings.DEBUG = True
    call_command("load_demo_data", verbosity=0)
    first = row_counts()

    call_command("load_demo_data", verbosity=0)

    assert row_counts() == first
    assert first["crm.Contact"] == 3 and first["targetlists.TargetListEntry"] == 6


def test_it_creates_the_demo_logins_in_their_groups(settings, client):
    settings.DEBUG = True
    call_command("load_demo_data", verbosity=0)
    users = get_user_model().objects

    assert users.get(username="admin").check_password("admin")
    assert users.get(username="marketer").check_password("marketer")
    assert users.get(username="admin").is_superuser
    assert list(users.get(username="marketer").groups.values_list("name", flat=True)) == [
        "Marketing"
    ]


def test_it_makes_a_draft_mass_email_with_a_valid_template(settings):
    settings.DEBUG = True
    call_command("load_demo_data", verbosity=0)

    template = EmailTemplate.objects.get()
    template.full_clean()
    mass_email = MassEmail.objects.get()
    tracking_url = mass_email.campaign.tracking_urls.get()
    assert mass_email.status == MassEmail.Status.DRAFT
    assert "{optOutUrl}" in template.body_html
    assert tracking_url.code in template.body_html
    outbound = OutboundEmailSettings.load()
    assert (outbound.smtp_host, outbound.smtp_port) == ("127.0.0.1", settings.EMAIL_PORT)


def test_it_keeps_what_an_administrator_changed(settings):
    settings.DEBUG = True
    call_command("load_demo_data", verbosity=0)
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("a-better-password")
    admin.save()
    OutboundEmailSettings.objects.filter(pk=1).update(smtp_host="smtp.example.com")

    call_command("load_demo_data", verbosity=0)

    admin.refresh_from_db()
    assert admin.check_password("a-better-password")
    assert OutboundEmailSettings.load().smtp_host == "smtp.example.com"


def test_it_refuses_to_load_demo_logins_in_production(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG is off"):
        call_command("load_demo_data", verbosity=0)
    assert not get_user_model().objects.filter(username="admin").exists()


def test_it_recreates_missing_groups(settings):
    settings.DEBUG = True
    Group.objects.all().delete()

    call_command("load_demo_data", verbosity=0)

    marketer = get_user_model().objects.get(username="marketer")
    assert marketer.has_perm("campaigns.add_massemail")
    assert not marketer.has_perm("crm.view_outboundemailsettings")


def test_its_report_fills_the_acme_list(settings):
    settings.DEBUG = True
    call_command("load_demo_data", verbosity=0)

    report = Report.objects.get()
    result = reports.sync(report)

    assert (result.added, result.lists) == (3, 1)
    assert report.target_lists.get().name == "Acme contacts"
