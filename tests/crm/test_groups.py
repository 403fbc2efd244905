import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from crm.groups import ADMINISTRATORS, MARKETING, update_groups
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MARKETING_HAS = [
    "crm.add_contact",
    "crm.change_lead",
    "crm.delete_account",
    "crm.change_emailaddress",
    "crm.add_emailtemplate",
    "crm.change_emailtemplateattachment",
    "targetlists.add_targetlist",
    "targetlists.delete_targetlistentry",
    "campaigns.change_campaign",
    "campaigns.add_massemail",
    "campaigns.change_trackingurl",
    "campaigns.view_emailqueueitem",
    "campaigns.view_campaignlogrecord",
    "auth.view_user",
    "crm.view_jobrun",
]
MARKETING_LACKS = [
    "crm.view_outboundemailsettings",
    "crm.change_outboundemailsettings",
    "crm.view_emailaccount",
    "crm.change_jobrun",
    "campaigns.view_massemailsettings",
    "campaigns.change_emailqueueitem",
    "campaigns.delete_campaignlogrecord",
    "django_celery_beat.view_periodictask",
    "django_celery_beat.change_crontabschedule",
    "auth.change_user",
    "auth.add_user",
    "auth.change_group",
]


def member_of(name: str):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=name))
    return user


def test_it_gives_marketing_people_templates_lists_and_campaigns():
    marketer = member_of(MARKETING)

    assert [perm for perm in MARKETING_HAS if not marketer.has_perm(perm)] == []


def test_it_keeps_settings_accounts_jobs_and_users_from_marketing():
    marketer = member_of(MARKETING)

    assert [perm for perm in MARKETING_LACKS if marketer.has_perm(perm)] == []


def test_it_gives_administrators_every_permission():
    administrators = Group.objects.get(name=ADMINISTRATORS)

    # Sessions have no admin page, and their migration need not run before the groups'.
    meaningful = Permission.objects.exclude(content_type__app_label="sessions")
    assert set(meaningful) <= set(administrators.permissions.all())
    assert member_of(ADMINISTRATORS).has_perm("django_celery_beat.change_periodictask")


def test_it_adds_permissions_of_later_models_when_run_again():
    content_type = ContentType.objects.get_by_natural_key("targetlists", "targetlist")
    new = Permission.objects.create(
        content_type=content_type, codename="sync_targetlist", name="Can sync"
    )
    before = Group.objects.get(name=MARKETING).permissions.count()

    update_groups()
    update_groups()

    assert Group.objects.filter(name__in=[MARKETING, ADMINISTRATORS]).count() == 2
    assert new in Group.objects.get(name=MARKETING).permissions.all()
    assert new in Group.objects.get(name=ADMINISTRATORS).permissions.all()
    assert Group.objects.get(name=MARKETING).permissions.count() == before + 1


def test_it_lets_marketing_look_at_tracking_hits_only():
    marketer = member_of(MARKETING)

    assert marketer.has_perm("tracking.view_trackinghit")
    assert not marketer.has_perm("tracking.delete_trackinghit")
