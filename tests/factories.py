"""Factories for every model tests build; one place, so tests read as the scenario they set up."""

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from campaigns.models import Campaign, CampaignType, MassEmail, TrackingUrl
from campaigns.sending import window
from crm.models import Account, Contact, EmailAddress, EmailTemplate, Lead
from targetlists.models import TargetList, TargetListEntry

# The site URL of tests that look at links in emails (the mass_settings fixture sets it).
SITE_URL = "https://news.example.org"


class EmailAddressFactory(DjangoModelFactory):
    class Meta:
        model = EmailAddress
        django_get_or_create = ("address_lower",)

    address = factory.Sequence(lambda n: f"person{n}@example.com")
    address_lower = factory.LazyAttribute(lambda o: o.address.lower())


class AccountFactory(DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Company {n}")
    email_address = factory.SubFactory(EmailAddressFactory)


class ContactFactory(DjangoModelFactory):
    class Meta:
        model = Contact

    first_name = factory.Sequence(lambda n: f"Ann{n}")
    account = None
    last_name = "Smith"
    email_address = factory.SubFactory(EmailAddressFactory)


class LeadFactory(DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = factory.Sequence(lambda n: f"Leo{n}")
    last_name = "Jones"
    email_address = factory.SubFactory(EmailAddressFactory)


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    first_name = "Uma"
    last_name = "User"
    password = factory.django.Password("pw-for-tests-123")


class TargetListFactory(DjangoModelFactory):
    class Meta:
        model = TargetList

    name = factory.Sequence(lambda n: f"List {n}")


class TargetListEntryFactory(DjangoModelFactory):
    class Meta:
        model = TargetListEntry

    target_list = factory.SubFactory(TargetListFactory)
    contact = factory.SubFactory(ContactFactory)


class EmailTemplateFactory(DjangoModelFactory):
    class Meta:
        model = EmailTemplate

    name = factory.Sequence(lambda n: f"Template {n}")
    subject = "Hello {Person.firstName}"
    body_html = "<p>Dear {Person.name},</p><p>News for you.</p>"


class CampaignFactory(DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    type = CampaignType.EMAIL


class MassEmailFactory(DjangoModelFactory):
    class Meta:
        model = MassEmail

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"Mass email {n}")
    email_template = factory.SubFactory(EmailTemplateFactory)


class TrackingUrlFactory(DjangoModelFactory):
    class Meta:
        model = TrackingUrl

    campaign = factory.SubFactory(CampaignFactory)
    name = factory.Sequence(lambda n: f"Link {n}")
    url = "https://example.com/landing"


# app label -> models on which a marketer in admin tests has every permission (view on Users).
MARKETER_MODELS = {
    "crm": (
        "account",
        "contact",
        "lead",
        "emailaddress",
        "emailtemplate",
        "emailtemplateattachment",
    ),
    "targetlists": (
        "targetlist",
        "targetlistentry",
        "targetlistcategory",
        "report",
        "reportcondition",
    ),
    "campaigns": ("campaign", "massemail", "trackingurl"),
    "people": ("peopleimport", "signupform", "signupconfirmation"),
}


class MarketerFactory(UserFactory):
    """A staff user with the model permissions of a marketer, made here rather than by group."""

    class Meta:
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"marketer{n}")
    is_staff = True

    @factory.post_generation
    def marketer_permissions(self, create, extracted, **kwargs):
        from django.contrib.auth.models import Permission
        from django.db.models import Q

        if not create:
            return
        condition = Q(content_type__app_label="auth", codename="view_user")
        condition |= Q(content_type__app_label="crm", codename="view_jobrun")  # read-only
        for app_label, models in MARKETER_MODELS.items():
            condition |= Q(content_type__app_label=app_label, content_type__model__in=models)
        self.user_permissions.add(*Permission.objects.filter(condition))


def _an_hour_ago():
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() - timedelta(hours=1)


class QueueItemFactory(DjangoModelFactory):
    """A queue item made Sent here is counted in the hourly window, as recording it does."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        item = super()._create(model_class, *args, **kwargs)
        if item.status == "sent" and item.sent_at and not item.is_test:
            window.add_sent(item.sent_at, 1)
        return item


class SentQueueItemFactory(QueueItemFactory):
    """A queue item already sent to a contact, as tracking sees it."""

    class Meta:
        model = "campaigns.EmailQueueItem"

    mass_email = factory.SubFactory(MassEmailFactory)
    contact = factory.SubFactory(ContactFactory)
    email_address = factory.LazyAttribute(lambda o: o.contact.email_address)
    email = factory.LazyAttribute(lambda o: o.email_address.address)
    status = "sent"
    attempts = 1
    sent_at = factory.LazyFunction(_an_hour_ago)


class CampaignLogRecordFactory(DjangoModelFactory):
    class Meta:
        model = "campaigns.CampaignLogRecord"

    queue_item = factory.SubFactory(SentQueueItemFactory)
    campaign = factory.LazyAttribute(lambda o: o.queue_item.mass_email.campaign)
    action = "sent"
    contact = factory.LazyAttribute(lambda o: o.queue_item.contact)
    email_address = factory.LazyAttribute(lambda o: o.queue_item.email_address)
    email = factory.LazyAttribute(lambda o: o.queue_item.email)
    is_test = factory.LazyAttribute(lambda o: o.queue_item.is_test)


class PendingQueueItemFactory(QueueItemFactory):
    """A queue item waiting to be sent to a contact, as the sending job finds it."""

    class Meta:
        model = "campaigns.EmailQueueItem"

    mass_email = factory.SubFactory(MassEmailFactory, status="in_process")
    contact = factory.SubFactory(ContactFactory)
    email_address = factory.LazyAttribute(lambda o: o.contact.email_address)
    status = "pending"


class SignupFormFactory(DjangoModelFactory):
    class Meta:
        model = "people.SignupForm"
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Newsletter signup {n}")
    campaign = factory.SubFactory(CampaignFactory)
    consent_text = "I agree to receive the newsletter."
    thank_you_text = "Welcome aboard."

    @factory.post_generation
    def target_lists(self, create, extracted, **kwargs):
        if create:
            self.target_lists.set(extracted if extracted is not None else [TargetListFactory()])


class SignupConfirmationFactory(DjangoModelFactory):
    """A double opt-in waiting for its confirmation email, as a form submission leaves it."""

    class Meta:
        model = "people.SignupConfirmation"

    form = factory.SubFactory(SignupFormFactory, double_opt_in=True)
    lead = factory.SubFactory(LeadFactory)
    email_address = factory.LazyAttribute(lambda o: o.lead.email_address)
    text = "I agree to receive the newsletter."
    text_version = 1


def group_named(name: str):
    """The group Marketing or Administrators; made again, with its permissions, where a
    transactional test's flush removed what the migration made."""
    from django.contrib.auth.models import Group

    from crm.groups import update_groups

    group = Group.objects.filter(name=name).first()
    if group is None:
        update_groups()
        group = Group.objects.get(name=name)
    return group
