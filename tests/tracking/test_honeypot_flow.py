"""From a rendered message to a verdict: the renderer's hidden link and the click view agree."""

import email
import re
from datetime import timedelta
from email import policy
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from campaigns.authoring import tokens
from campaigns.authoring.rendering import CompiledMassEmail
from campaigns.models import EmailQueueItem
from tests.factories import (
    EmailTemplateFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
)
from tracking.classification import HONEYPOT_URL_ID
from tracking.models import TrackingHit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("mass_settings")]


BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@pytest.fixture
def sent():
    """A sent item of an Email campaign, an hour ago, and the links of its rendered HTML."""
    mass_email = MassEmailFactory(email_template=EmailTemplateFactory(), from_address="n@shop.ex")
    link = TrackingUrlFactory(campaign=mass_email.campaign, url="https://shop.example/offer")
    template = mass_email.email_template
    template.body_html = f'<p>Hello</p><p><a href="{{trackingUrl:{link.pk}}}">Offer</a></p>'
    template.save()
    item = SentQueueItemFactory(mass_email=mass_email, sent_at=timezone.now() - timedelta(hours=1))
    item = EmailQueueItem.objects.select_related("email_address", "contact").get(pk=item.pk)
    data = CompiledMassEmail.compile(mass_email).render(item).data
    message = email.message_from_bytes(data, policy=policy.default)
    html = message.get_body(preferencelist=("html",)).get_content()
    paths = [urlsplit(href).path for href in re.findall(r'href="([^"]+)"', html) if "/c/" in href]
    return item, paths


def test_it_uses_the_renderers_id_for_the_hidden_link():
    assert HONEYPOT_URL_ID == tokens.HONEYPOT_LINK_ID


@pytest.mark.parametrize("hidden_first", [True, False], ids=["hidden-first", "offer-first"])
def test_it_marks_a_click_next_to_a_hidden_link_hit_as_a_machines(client, sent, hidden_first):
    item, (hidden_path, offer_path) = sent
    responses = {}
    for path in [hidden_path, offer_path] if hidden_first else [offer_path, hidden_path]:
        responses[path] = client.get(path, HTTP_USER_AGENT=BROWSER)
    assert responses[hidden_path].status_code == 204
    assert responses[offer_path]["Location"] == "https://shop.example/offer"
    trap = TrackingHit.objects.get(queue_item=item, kind=TrackingHit.Kind.TRAP)
    offer = TrackingHit.objects.get(queue_item=item, kind=TrackingHit.Kind.CLICK)
    assert trap.is_machine and trap.reason == TrackingHit.Reason.TRAP
    assert offer.is_machine and offer.reason == TrackingHit.Reason.TRAP


def test_it_keeps_a_browser_click_without_the_hidden_link_a_persons(client, sent):
    item, (_hidden_path, offer_path) = sent
    response = client.get(offer_path, HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302
    (offer,) = TrackingHit.objects.filter(queue_item=item)
    assert offer.kind == TrackingHit.Kind.CLICK
    assert not offer.is_machine and offer.reason == TrackingHit.Reason.HUMAN
