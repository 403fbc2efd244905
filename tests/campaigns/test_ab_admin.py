"""The A/B test and the follow-up in the admin, as a marketer uses them."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import EmailQueueItem, MassEmail, MassEmailSettings, MassEmailVariant
from tests.factories import (
    EmailTemplateFactory,
    MarketerFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db
State = MassEmail.TestState


@pytest.fixture
def marketer(client):
    user = MarketerFactory()
    client.force_login(user)
    return user


def change_url(mass_email) -> str:
    return reverse("admin:campaigns_massemail_change", args=[mass_email.pk])


def post_data(mass_email, variants: list[dict]) -> dict:
    data = {
        "campaign": mass_email.campaign_id,
        "name": mass_email.name,
        "status": mass_email.status,
        "email_template": mass_email.email_template_id,
        "test_share": "30",
        "test_wait_hours": "6",
        "test_metric": "opens",
        "test_confidence": "99",
        "test_min_sample": "500",
        "test_fallback": "best",
        "variants-TOTAL_FORMS": str(len(variants)),
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "5",
    }
    for n, variant in enumerate(variants):
        data.update({f"variants-{n}-{key}": value for key, value in variant.items()})
    return data


def test_a_marketer_sets_up_a_test_with_variants(client, marketer):
    mass_email = MassEmailFactory(status=MassEmail.Status.DRAFT)
    other_template = EmailTemplateFactory()
    variants = [
        {"letter": "A", "subject": "Spring sale"},
        {"letter": "B", "subject": "20 % off", "from_name": "Ana", "template": other_template.pk},
    ]

    response = client.post(change_url(mass_email), post_data(mass_email, variants))

    assert response.status_code == 302
    mass_email.refresh_from_db()
    assert (mass_email.test_share, mass_email.test_metric, mass_email.test_fallback) == (
        30,
        "opens",
        "best",
    )
    b = mass_email.variants.get(letter="B")
    assert (b.subject, b.from_name, b.template) == ("20 % off", "Ana", other_template)


def test_one_variant_alone_is_refused(client, marketer):
    mass_email = MassEmailFactory(status=MassEmail.Status.DRAFT)

    response = client.post(change_url(mass_email), post_data(mass_email, [{"letter": "A"}]))

    assert response.status_code == 200
    assert "2 to 5 variants" in response.content.decode()
    assert not mass_email.variants.exists()


def decided_test():
    mass_email = MassEmailFactory(
        status=MassEmail.Status.IN_PROCESS, test_state=State.WAITING, test_reasoning="Too few."
    )
    a = MassEmailVariant.objects.create(mass_email=mass_email, letter="A", subject="One")
    b = MassEmailVariant.objects.create(mass_email=mass_email, letter="B", subject="Two")
    for variant, clicks in ((a, 1), (b, 3)):
        for n in range(4):
            item = SentQueueItemFactory(mass_email=mass_email, variant=variant, in_test=True)
            if n < clicks:
                TrackingHit.objects.create(
                    queue_item=item, campaign=mass_email.campaign, kind="click"
                )
    held = SentQueueItemFactory(mass_email=mass_email, status="held", sent_at=None)
    return mass_email, b, held


def test_the_page_compares_the_variants_and_a_person_chooses_the_winner(client, marketer):
    mass_email, b, held = decided_test()

    page = client.get(change_url(mass_email)).content.decode()

    assert "Waiting for a person to choose" in page and "Too few." in page
    assert "3 (75.0 %; 95 % interval" in page  # B's people's clicks of 4 delivered
    assert "Choose winner" in page
    response = client.post(
        reverse("admin:campaigns_massemail_choose_winner", args=[mass_email.pk]),
        {"variant": b.pk},
    )
    assert response.status_code == 302
    held.refresh_from_db()
    assert (held.status, held.variant) == (EmailQueueItem.Status.PENDING, b)
    results = client.get(reverse("admin:campaigns_massemail_results", args=[mass_email.pk]))
    text = results.content.decode()
    assert "★" in text and "Choose winner" not in text


def test_follow_up_non_openers_creates_a_draft(client, marketer):
    mass_email = MassEmailFactory(status=MassEmail.Status.COMPLETE)
    SentQueueItemFactory(mass_email=mass_email, sent_at=timezone.now() - datetime.timedelta(3))
    url = reverse("admin:campaigns_massemail_follow_up", args=[mass_email.pk])
    assert "Follow up non-openers" in client.get(change_url(mass_email)).content.decode()
    assert client.get(url).status_code == 200

    response = client.post(url, {"subject": "Still interested?", "hours": "48"})

    follow_up = MassEmail.objects.get(follow_up_of=mass_email)
    assert response.status_code == 302 and response["Location"] == change_url(follow_up)
    assert (follow_up.status, follow_up.subject, follow_up.follow_up_hours) == (
        "draft",
        "Still interested?",
        48,
    )


def test_a_variants_template_must_use_the_campaigns_tracking_codes(client, marketer):
    mass_email = MassEmailFactory(status=MassEmail.Status.DRAFT)
    foreign = TrackingUrlFactory()  # of another campaign
    template = EmailTemplateFactory(body_html=f'<a href="{{trackingUrl:{foreign.pk}}}">x</a>')
    variants = [{"letter": "A"}, {"letter": "B", "template": template.pk}]
    data = post_data(mass_email, variants)

    refused = client.post(change_url(mass_email), {**data, "status": "pending"})
    drafted = client.post(change_url(mass_email), data)

    assert refused.status_code == 200
    assert "not tracking URLs of the campaign" in refused.content.decode()
    assert drafted.status_code == 302 and mass_email.variants.count() == 2


def test_the_page_warns_when_the_metric_is_opens_and_opens_are_not_tracked(client, marketer):
    settings_row = MassEmailSettings.load()
    settings_row.open_tracking = False
    settings_row.save()
    mass_email = MassEmailFactory(status=MassEmail.Status.DRAFT, test_metric="opens")
    MassEmailVariant.objects.create(mass_email=mass_email, letter="A")

    page = client.get(change_url(mass_email)).content.decode()

    assert "no variant can win on opens" in page
    MassEmail.objects.filter(pk=mass_email.pk).update(test_metric="clicks")
    assert "no variant can win on opens" not in client.get(change_url(mass_email)).content.decode()
