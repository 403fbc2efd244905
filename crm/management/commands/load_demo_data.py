"""`manage.py load_demo_data`: a small CRM to try mass email with (what `make run` loads).

Idempotent: every row is looked up by its name first, so running it twice leaves the same rows,
and nothing an administrator changed (passwords, SMTP settings) is overwritten. Refuses to run
with DEBUG off (exit 1), so production never gets the demo logins; `check --deploy` warns if
one of them still has its demo password (crm.login_safety).
"""

from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from crm.groups import ADMINISTRATORS, MARKETING, update_groups
from crm.models import Account, Contact, EmailAddress, EmailTemplate, Lead, OutboundEmailSettings


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    group: str
    superuser: bool


DEMO_USERS = (
    DemoUser("admin", "admin", "Administrator", ADMINISTRATORS, superuser=True),
    DemoUser("marketer", "marketer", "Marketer", MARKETING, superuser=False),
)
CONTACTS = (("Alice", "Andersen"), ("Bruno", "Brown"), ("Carla", "Cruz"))
LEADS = (("Dan", "Diaz", "Globex"), ("Eve", "Evans", "Initech"))
# A realistic newsletter: a few paragraphs, an image with alt text, two links (one a tracking
# URL code, one a plain link that "track all links" turns into one), the opt-out link.
TEMPLATE_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Our spring catalogue is out</title>
<style>
  body { margin: 0; background: #f4f4f4; }
  .sheet { max-width: 600px; margin: 0 auto; background: #ffffff; padding: 24px; }
  p, li { font-family: Helvetica, Arial, sans-serif; font-size: 16px; line-height: 1.5;
          color: #333333; }
  h1, h2 { font-family: Helvetica, Arial, sans-serif; color: #1d3557; font-size: 24px; }
  h2 { font-size: 20px; }
  a { color: #1d6fa5; }
  .small { font-size: 12px; color: #666666; }
  @media (max-width: 600px) { .sheet { padding: 12px; } }
</style>
</head>
<body>
<div class="sheet">
<h1>Hello {Person.firstName|there},</h1>
<p>Spring has arrived at Acme, and so has our new catalogue. This season we have redesigned
our garden range from the ground up: lighter tools, sturdier planters and a watering system
that you can set up in ten minutes without any special equipment.</p>
<img src="https://example.com/images/spring-catalogue.jpg" width="552" height="300"
     alt="The new garden range photographed in a sunny courtyard" style="display:block;">
<p>Everything in the catalogue was tested by our own team through a long, wet winter.
We kept what worked and changed what did not, and you will find the notes from those tests
next to each product.</p>
<p><a href="{trackingUrl:%d}">Browse the spring catalogue</a></p>
<h2>What is new this season</h2>
<ul>
<li>A pruning saw that folds into a pocket and a pair of shears with replaceable blades.</li>
<li>Planters made from recycled fishing nets, in three sizes and five colours.</li>
<li>A drip watering kit that runs from a rain barrel and needs no electricity.</li>
</ul>
<p>Our spring workshops are back as well. Every Saturday morning in April and May one of our
gardeners shows a small group how to sow, plant out and look after vegetables in containers.
The workshops are free for customers; bring your questions and your gloves.</p>
<p>Would you rather talk to somebody? Our shop in Springfield is open every day from nine to
six, and our staff will gladly help you plan your garden for the season. You can also
<a href="https://example.com/stores">find the shop nearest to you</a>.</p>
<p>Thank you for being with us, and enjoy the longer days.</p>
<p>The Acme team</p>
<p class="small">You receive this newsletter because you are a customer of Acme Corporation,
12 Garden Row, Springfield. <a href="{optOutUrl}">Unsubscribe</a> at any time.</p>
</div>
</body>
</html>
"""

# Demo data spans every app; models of the apps that depend on crm are looked up by name, so
# crm imports none of them.


def load_users() -> None:
    if Group.objects.filter(name__in=[ADMINISTRATORS, MARKETING]).count() < 2:
        update_groups()  # The migration made them; a flushed database has lost them.
    for demo in DEMO_USERS:
        user = get_user_model().objects.filter(username=demo.username).first()
        if user is None:
            user = get_user_model().objects.create_user(
                demo.username,
                f"{demo.username}@example.com",
                demo.password,
                is_staff=True,
                is_superuser=demo.superuser,
            )
        user.groups.add(Group.objects.get(name=demo.group))


def person(model, first_name: str, last_name: str, **fields):
    address = EmailAddress.for_address(f"{first_name}.{last_name}@example.com".lower())
    row, _created = model.objects.get_or_create(
        first_name=first_name,
        last_name=last_name,
        defaults={"email_address": address, **fields},
    )
    return row


def load_people() -> list:
    account, _created = Account.objects.get_or_create(
        name="Acme Corporation",
        defaults={
            "email_address": EmailAddress.for_address("info@acme.example.com"),
            "website": "https://acme.example.com",
            "industry": "Manufacturing",
        },
    )
    contacts = [person(Contact, first, last, account=account) for first, last in CONTACTS]
    leads = [person(Lead, first, last, account_name=company) for first, last, company in LEADS]
    return [account, *contacts, *leads]


def load_target_list(people: list):
    target_list_model = apps.get_model("targetlists", "TargetList")
    entry_model = apps.get_model("targetlists", "TargetListEntry")
    target_list, _created = target_list_model.objects.get_or_create(
        name="Newsletter subscribers",
        defaults={"description": "People who asked for the monthly newsletter."},
    )
    for target in people:
        field = target._meta.model_name
        entry_model.objects.get_or_create(target_list=target_list, **{field: target})
    return target_list


def load_report() -> None:
    """A report over Acme's contacts that fills its own list, synced every hour."""
    report_model = apps.get_model("targetlists", "Report")
    report, created = report_model.objects.get_or_create(
        name="Contacts at Acme", defaults={"entity": "contact", "sync_hourly": True}
    )
    if created:
        report.conditions.create(field="account_name", operator="equals", value="Acme Corporation")
        target_list, _created = apps.get_model("targetlists", "TargetList").objects.get_or_create(
            name="Acme contacts", defaults={"description": "Filled by the report Contacts at Acme."}
        )
        report.target_lists.add(target_list)


def load_campaign(target_list) -> None:
    campaign_model = apps.get_model("campaigns", "Campaign")
    campaign, _created = campaign_model.objects.get_or_create(
        name="Spring newsletter",
        defaults={"type": "newsletter", "status": "active", "description": "Demo campaign."},
    )
    campaign.target_lists.add(target_list)
    tracking_url, _created = campaign.tracking_urls.get_or_create(
        name="Spring catalogue", defaults={"url": "https://example.com/catalogue"}
    )
    template, _created = EmailTemplate.objects.get_or_create(
        name="Spring newsletter",
        defaults={
            "subject": "{Person.firstName|Hello}, our spring catalogue is out",
            "preheader": "Lighter tools, sturdier planters and a ten-minute watering system.",
            "body_html": TEMPLATE_HTML % tracking_url.pk,
        },
    )
    mass_email, _created = campaign.mass_emails.get_or_create(
        name="Spring newsletter: first send",
        defaults={
            "email_template": template,
            "status": "draft",
            "from_address": "newsletter@example.com",
            "from_name": "Acme Marketing",
        },
    )
    mass_email.target_lists.add(target_list)


def load_settings() -> None:
    OutboundEmailSettings.objects.get_or_create(
        pk=1,
        defaults={
            "smtp_host": "127.0.0.1",
            "smtp_port": settings.EMAIL_PORT,
            "from_address": "marketing@example.com",
            "from_name": "Acme Marketing",
        },
    )
    apps.get_model("campaigns", "MassEmailSettings").load()


class Command(BaseCommand):
    help = "Load demo users, people, a target list, a template and a campaign (idempotent)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "DEBUG is off: the demo data (with the logins admin/admin and "
                "marketer/marketer) is for development only and was not loaded. "
                "Create real users with manage.py createsuperuser."
            )
        with transaction.atomic():
            load_users()
            load_settings()
            load_campaign(load_target_list(load_people()))
            load_report()
        logins = ", ".join(f"{u.username} / {u.password}" for u in DEMO_USERS)
        self.stdout.write(f"Demo data ready (existing rows kept). Logins: {logins}")
