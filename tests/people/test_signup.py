import re
import time

import pytest
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from campaigns.results.statistics import log_counts
from crm.consent import address_hash
from crm.models import ConsentRecord, EmailAddress, Lead, SuppressedAddress
from people.models import SignupConfirmation
from people.tasks import send_confirmation
from tests.factories import EmailAddressFactory, LeadFactory, SignupFormFactory

pytestmark = pytest.mark.django_db


def form_page(client, form):
    response = client.get(reverse("people:signup", args=[form.key]))
    assert response.status_code == 200
    token = re.search(r'name="token" value="([^"]+)"', response.content.decode()).group(1)
    return token


def post(client, form, token, **fields):
    data = {"token": token, "email": "ann@example.com", "first_name": "Ann", **fields}
    return client.post(reverse("people:signup", args=[form.key]), data, REMOTE_ADDR="192.0.2.1")


def actions(form):
    return sorted(
        CampaignLogRecord.objects.filter(campaign=form.campaign).values_list("action", flat=True)
    )


def confirmation_link(smtp_server, address="ann@example.com") -> str:
    (message,) = smtp_server.messages_to(address)
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = part.get_payload(decode=True).decode()
    return re.search(r"https?://\S+/f/confirm/(\S+)/", body).group(1)


def test_it_subscribes_at_once_without_double_opt_in(client):
    form = SignupFormFactory(double_opt_in=False)

    response = post(client, form, form_page(client, form), last_name="Lee")

    assert "Welcome aboard." in response.content.decode()
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.source) == ("Ann", "Lee", "Web form")
    assert form.target_lists.get().entries.get().lead == lead
    assert actions(form) == ["lead_created", "opted_in"]
    assert log_counts(form.campaign)["leads"] == 1
    record = ConsentRecord.objects.get()
    assert (record.action, record.method, record.lead) == ("opt_in", "form", lead)
    assert record.text == "I agree to receive the newsletter." and len(record.client_hash) == 64


def queued_tasks(callbacks) -> list[tuple[str, tuple]]:
    """The Celery tasks that `callbacks` (captured on commit) would queue, with their args."""
    return [(callback.args[0], callback.args[1:]) for callback in callbacks]


def test_it_queues_the_confirmation_email_and_subscribes_only_when_confirmed(
    client, smtp_server, django_capture_on_commit_callbacks, mass_settings
):
    form = SignupFormFactory(double_opt_in=True)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, form, form_page(client, form))

    assert "Please check your inbox" in response.content.decode()
    confirmation = SignupConfirmation.objects.get()
    assert queued_tasks(callbacks) == [("people.tasks.send_confirmation", (confirmation.pk,))]
    assert smtp_server.total == 0 and not confirmation.email_sent_at  # not sent in the request
    assert actions(form) == ["lead_created"]
    assert not form.target_lists.get().entries.exists()
    send_confirmation.apply(args=callbacks[0].args[1:])  # the worker's part
    token = confirmation_link(smtp_server)
    url = reverse("people:confirm", args=[token])

    assert "Confirm my subscription" in client.get(url).content.decode()
    assert not form.target_lists.get().entries.exists()  # a GET (a scanner) confirms nothing
    assert "You are subscribed" in client.post(url).content.decode()
    client.post(url)  # twice: nothing more

    assert form.target_lists.get().entries.count() == 1
    assert actions(form) == ["lead_created", "opted_in"]
    assert SignupConfirmation.objects.get().confirmed_at is not None
    assert ConsentRecord.objects.get().method == "form"


def test_it_answers_the_same_for_an_address_already_subscribed(client):
    form = SignupFormFactory(double_opt_in=False)
    first = post(client, form, form_page(client, form))
    again = post(client, form, form_page(client, form))

    # The same page, but for the nonce of its Content-Security-Policy, new on every response.
    assert re.sub(rb'nonce="[^"]*"', b"", first.content) == re.sub(
        rb'nonce="[^"]*"', b"", again.content
    )
    assert Lead.objects.count() == 1 and actions(form) == ["lead_created", "opted_in", "opted_in"]


def test_it_finds_an_existing_lead_without_logging_lead_created(client):
    lead = LeadFactory(email_address=EmailAddressFactory(address="Ann@Example.com"))
    form = SignupFormFactory(double_opt_in=False)

    post(client, form, form_page(client, form))

    assert Lead.objects.get() == lead and actions(form) == ["opted_in"]


def test_it_ignores_a_filled_honeypot_with_the_same_answer(client):
    form = SignupFormFactory(double_opt_in=False)
    response = post(client, form, form_page(client, form), website="http://spam.example")

    assert response.status_code == 200 and "Welcome aboard." in response.content.decode()
    assert not Lead.objects.exists()


def test_it_ignores_a_replayed_token(client):
    form = SignupFormFactory(double_opt_in=False)
    token = form_page(client, form)
    post(client, form, token)
    post(client, form, token, email="other@example.com")

    assert list(EmailAddress.objects.values_list("address_lower", flat=True)) == ["ann@example.com"]


def test_it_refuses_forged_and_foreign_tokens_with_a_form_again(client):
    form, other = SignupFormFactory(), SignupFormFactory()
    for token in ("", "garbage", "\xff\xfe" * 40, form_page(client, other), "z" * 500):
        response = post(client, form, token)
        assert response.status_code == 400
        page = response.content.decode()
        # NUL is refused before the form is read (crm.request_checks), the rest by the form.
        assert "This form has expired" in page or "NUL character" in page
    assert not Lead.objects.exists()


def test_it_refuses_an_old_form_token(client, settings):
    form = SignupFormFactory()
    old = tokens.make(tokens.SIGNUP_FORM, form.pk, int(time.time()) - 25 * 3600, 1)
    assert post(client, form, old).status_code == 400


def test_it_limits_submissions_per_address_and_per_client(client, settings):
    settings.SIGNUP_RATE_PER_ADDRESS, settings.SIGNUP_RATE_PER_CLIENT = 1, 3
    form = SignupFormFactory(double_opt_in=False)
    for _n in range(2):
        post(client, form, form_page(client, form))
    assert actions(form) == ["lead_created", "opted_in"]  # the second one did nothing

    post(client, form, form_page(client, form), email="b@example.com")
    response = post(client, form, form_page(client, form), email="c@example.com")
    assert response.status_code == 429
    assert not Lead.objects.filter(email_address__address_lower="c@example.com").exists()


def test_it_shows_address_errors_on_the_form(client):
    form = SignupFormFactory()
    response = post(client, form, form_page(client, form), email="not an address")
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()


def test_it_never_signs_up_an_erased_address(client):
    SuppressedAddress.objects.create(address_hash=address_hash("ann@example.com"))
    form = SignupFormFactory(double_opt_in=False)

    response = post(client, form, form_page(client, form))

    assert "Welcome aboard." in response.content.decode() and not Lead.objects.exists()


def test_it_expires_confirmation_links(client, settings):
    form = SignupFormFactory()
    lead = LeadFactory()
    confirmation = SignupConfirmation.objects.create(
        form=form, lead=lead, email_address=lead.email_address
    )
    issued = int(time.time()) - 8 * 86400
    url = reverse(
        "people:confirm", args=[tokens.make(tokens.SIGNUP_CONFIRM, confirmation.pk, issued)]
    )

    assert client.get(url).status_code == 410
    assert client.post(url).status_code == 410
    assert not form.target_lists.get().entries.exists()


@pytest.mark.parametrize("token", ["x", "1.abc", "\u00e9" * 30, "1-2.AAAAAAAAAAAAAAAAAAAAAA"])
def test_it_answers_404_to_garbage_confirmation_links(client, token):
    assert client.get(reverse("people:confirm", args=[token])).status_code == 404
    assert client.post(reverse("people:confirm", args=[token])).status_code == 404


def test_it_redirects_to_the_stored_tracking_url(client):
    from tests.factories import TrackingUrlFactory

    form = SignupFormFactory(double_opt_in=False)
    form.redirect_link = TrackingUrlFactory(campaign=form.campaign, url="https://ex.org/thanks")
    form.save()

    response = post(client, form, form_page(client, form))

    assert response.status_code == 302 and response.url == "https://ex.org/thanks"


def test_it_shows_the_form_in_spanish(client):
    form = SignupFormFactory(language="es")
    page = client.get(reverse("people:signup", args=[form.key])).content.decode()
    assert "Suscribirme" in page


def test_it_answers_404_for_an_unknown_or_inactive_form(client):
    inactive = SignupFormFactory(is_active=False)
    assert client.get(reverse("people:signup", args=["nope"])).status_code == 404
    assert client.get(reverse("people:signup", args=[inactive.key])).status_code == 404


def test_it_counts_clients_behind_a_proxy_by_the_header_the_proxy_appends(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.SIGNUP_RATE_PER_CLIENT = 1
    form = SignupFormFactory(double_opt_in=False)
    url = reverse("people:signup", args=[form.key])
    for n, forwarded in enumerate(["198.51.100.7", "forged, 198.51.100.8", "198.51.100.7"]):
        data = {"token": form_page(client, form), "email": f"p{n}@example.com"}
        response = client.post(url, data, HTTP_X_FORWARDED_FOR=forwarded)
        assert response.status_code == (429 if n == 2 else 200)


def test_it_forgets_submissions_once_no_token_or_limit_needs_them(client):
    from datetime import timedelta

    from django.utils import timezone

    from people.models import SignupSubmission

    form = SignupFormFactory(double_opt_in=False)
    post(client, form, form_page(client, form))
    SignupSubmission.objects.update(at=timezone.now() - timedelta(hours=26))
    post(client, form, form_page(client, form), email="b@example.com")

    assert SignupSubmission.objects.count() == 1


@pytest.mark.parametrize("key", ["x" * 500, "é%00", "..", "%ff%fe"])
def test_it_answers_4xx_to_garbage_form_keys(client, key):
    # A NUL byte is refused by crm.request_checks (400) before the view; the rest: 404.
    assert client.get(f"/f/{key}/").status_code in (400, 404)
    assert client.post(f"/f/{key}/", {"email": "a@example.com"}).status_code in (400, 404)


def test_it_may_be_framed_by_any_site_but_the_confirmation_page_may_not(client):
    form = SignupFormFactory()
    page = client.get(reverse("people:signup", args=[form.key]))
    assert "frame-ancestors *" in page["Content-Security-Policy"]
    assert "X-Frame-Options" not in page
    confirm = client.get(reverse("people:confirm", args=["x"]))
    assert "frame-ancestors 'none'" in confirm["Content-Security-Policy"]
