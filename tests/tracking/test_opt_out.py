import re

import pytest
from django.test import Client
from django.urls import reverse

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord
from tests.factories import (
    CampaignFactory,
    ContactFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TargetListEntryFactory,
    TargetListFactory,
    UserFactory,
)
from tracking.models import TrackingHit

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"


@pytest.fixture
def contact():
    return ContactFactory(first_name="Ann", last_name="Lee")


@pytest.fixture
def entries(contact):
    """The contact's entries in both lists of the mass email, and in an unrelated list."""
    return [TargetListEntryFactory(contact=contact) for _ in range(3)]


@pytest.fixture
def item(contact, entries):
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([entries[0].target_list, entries[1].target_list])
    return SentQueueItemFactory(mass_email=mass_email, contact=contact)


def url(name: str, item) -> str:
    return reverse(f"tracking:{name}", args=[tokens.make(tokens.OPT_OUT, item.pk)])


def opted_out_records(item):
    return CampaignLogRecord.objects.filter(queue_item=item, action="opted_out")


def flags(entries):
    return [e.opted_out for e in type(entries[0]).objects.filter(pk__in=[e.pk for e in entries])]


def test_it_shows_the_page_on_get_and_changes_nothing(client, item, entries):
    response = client.get(url("opt_out", item), HTTP_USER_AGENT=BROWSER)

    body = response.content.decode()
    assert response.status_code == 200
    assert "Unsubscribe" in body
    assert item.email in body
    assert f'action="{url("opt_out", item)}"' in body
    assert flags(entries) == [False, False, False]
    assert not opted_out_records(item).exists()
    assert "no-store" in response["Cache-Control"]


def test_it_unsubscribes_on_post_from_the_mass_emails_lists_only(client, item, entries):
    response = client.post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert flags(entries) == [True, True, False]
    record = opted_out_records(item).get()
    assert record.contact == item.contact
    item.email_address.refresh_from_db()
    assert item.email_address.opt_out is False


def test_it_logs_once_however_often_posted(client, item):
    client.post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)
    client.post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)
    client.post(url("one_click", item), {"List-Unsubscribe": "One-Click"})

    assert opted_out_records(item).count() == 1


def test_it_opts_the_address_out_entirely_when_the_mass_email_says_so(client, item, entries):
    item.mass_email.opt_out_entirely = True
    item.mass_email.save()

    client.post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)

    item.email_address.refresh_from_db()
    assert item.email_address.opt_out is True
    assert flags(entries) == [True, True, False]


def test_it_does_not_add_people_to_lists_they_are_not_in(client):
    stranger = ContactFactory()
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([TargetListFactory()])
    item = SentQueueItemFactory(mass_email=mass_email, contact=stranger)

    client.post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)

    assert not mass_email.target_lists.get().entries.exists()
    assert opted_out_records(item).count() == 1


def test_it_unsubscribes_on_a_one_click_post_without_cookies_or_csrf_token(item, entries):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        url("one_click", item),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert not response.cookies
    assert flags(entries) == [True, True, False]
    assert opted_out_records(item).count() == 1
    assert TrackingHit.objects.get().kind == "one_click"


def test_it_accepts_the_one_click_post_as_multipart(item, entries):
    client = Client(enforce_csrf_checks=True)

    response = client.post(url("one_click", item), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert flags(entries) == [True, True, False]


def test_it_refuses_a_one_click_post_without_the_rfc_8058_body(item, entries):
    response = Client(enforce_csrf_checks=True).post(url("one_click", item), {"other": "x"})

    assert response.status_code == 400
    assert "RFC 8058" in response.content.decode()
    assert flags(entries) == [False, False, False]


def test_it_refuses_the_page_form_without_a_csrf_token(item, entries):
    response = Client(enforce_csrf_checks=True).post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 403
    assert flags(entries) == [False, False, False]
    assert not opted_out_records(item).exists()


def test_it_accepts_the_page_form_with_the_csrf_token_the_page_gave(item, entries):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(url("opt_out", item), HTTP_USER_AGENT=BROWSER)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]

    out = browser.post(
        url("opt_out", item), {"csrfmiddlewaretoken": token}, HTTP_USER_AGENT=BROWSER
    )
    forged = Client(enforce_csrf_checks=True).post(
        url("subscribe_again", item), {"csrfmiddlewaretoken": token}, HTTP_USER_AGENT=BROWSER
    )

    assert out.status_code == 200
    assert forged.status_code == 403  # another browser, without the cookie the page set
    assert flags(entries) == [True, True, False]


def test_it_shows_the_page_on_a_get_of_the_one_click_url(client, item, entries):
    response = client.get(url("one_click", item))

    assert response.status_code == 200
    assert "Unsubscribe" in response.content.decode()
    assert flags(entries) == [False, False, False]


def test_it_subscribes_again(client, item, entries):
    item.mass_email.opt_out_entirely = True
    item.mass_email.save()
    client.post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)

    response = client.post(url("subscribe_again", item), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 200
    assert "You are subscribed again" in response.content.decode()
    assert flags(entries) == [False, False, False]
    item.email_address.refresh_from_db()
    assert item.email_address.opt_out is False
    assert not opted_out_records(item).exists()


def test_it_changes_nothing_on_a_get_of_subscribe_again(client, item, entries):
    client.post(url("opt_out", item), HTTP_USER_AGENT=BROWSER)

    response = client.get(url("subscribe_again", item))

    assert response.status_code == 302
    assert response["Location"] == url("opt_out", item)
    assert opted_out_records(item).count() == 1


@pytest.mark.parametrize("name", ["opt_out", "one_click", "subscribe_again"])
def test_it_answers_404_for_a_forged_or_altered_token(client, item, entries, name):
    token = tokens.make(tokens.OPT_OUT, item.pk)
    for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), tokens.make(tokens.OPEN, item.pk)):
        path = reverse(f"tracking:{name}", args=[bad])
        for response in (client.get(path), client.post(path, {"List-Unsubscribe": "One-Click"})):
            assert response.status_code == 404
            assert "This link is not valid" in response.content.decode()
    assert flags(entries) == [False, False, False]
    assert not CampaignLogRecord.objects.exists()


@pytest.mark.parametrize("name", ["opt_out", "one_click", "subscribe_again"])
def test_it_answers_404_for_informational_campaigns(client, name):
    mass_email = MassEmailFactory(campaign=CampaignFactory(type="informational"))
    item = SentQueueItemFactory(mass_email=mass_email)

    page = client.get(url(name, item), HTTP_ACCEPT_LANGUAGE="es")
    posted = client.post(url(name, item), {"List-Unsubscribe": "One-Click"})

    assert page.status_code == 404
    assert '<html lang="es">' in page.content.decode()
    assert posted.status_code == 404
    assert "service message" in posted.content.decode()  # the page says why
    assert not CampaignLogRecord.objects.exists()


def test_it_escapes_the_persons_name_and_address(client):
    contact = ContactFactory(first_name='<script>alert("x")</script>', last_name="<b>Lee</b>")
    item = SentQueueItemFactory(contact=contact)

    body = client.get(url("opt_out", item)).content.decode()

    assert "<script>alert" not in body
    assert "<b>Lee</b>" not in body
    assert "&lt;script&gt;" in body


def test_it_follows_the_browsers_language(client, item):
    response = client.get(url("opt_out", item), HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9")

    assert '<html lang="es">' in response.content.decode()


@pytest.mark.parametrize(
    "user_agent", ["Mimecast URL Protect/1.0", "HeadlessChrome/120.0", "python-requests/2.31", ""]
)
def test_it_unsubscribes_whatever_the_user_agent(item, entries, user_agent):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(url("opt_out", item), HTTP_USER_AGENT=user_agent)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]

    response = browser.post(
        url("opt_out", item), {"csrfmiddlewaretoken": token}, HTTP_USER_AGENT=user_agent
    )

    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert flags(entries) == [True, True, False]
    assert opted_out_records(item).count() == 1
    assert TrackingHit.objects.get().is_machine is True  # for the reports only


def test_it_honours_a_one_click_post_from_a_scanner_product(item, entries):
    response = Client(enforce_csrf_checks=True).post(
        url("one_click", item),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="Mimecast URL Protect/1.0",
    )

    assert response.status_code == 200
    assert flags(entries) == [True, True, False]
    assert opted_out_records(item).count() == 1


def test_it_says_why_a_one_click_post_without_its_body_is_refused(item, entries):
    response = Client(enforce_csrf_checks=True).post(
        url("one_click", item), {"other": "x"}, HTTP_ACCEPT_LANGUAGE="es"
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert '<html lang="es">' in body
    assert "RFC 8058" in body
    assert f'href="{url("opt_out", item)}"' in body
    assert flags(entries) == [False, False, False]


def test_it_offers_the_button_again_when_the_csrf_cookie_is_missing(item, entries):
    browser = Client(enforce_csrf_checks=True)

    refused = browser.post(url("opt_out", item), HTTP_ACCEPT_LANGUAGE="es", HTTP_USER_AGENT=BROWSER)
    body = refused.content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)[1]
    again = browser.post(
        url("opt_out", item), {"csrfmiddlewaretoken": token}, HTTP_USER_AGENT=BROWSER
    )

    assert refused.status_code == 403
    assert '<html lang="es">' in body
    assert f'action="{url("opt_out", item)}"' in body
    assert again.status_code == 200
    assert flags(entries) == [True, True, False]


def test_it_greets_a_user_by_full_name(client):
    user = UserFactory(first_name="Uma", last_name="<b>Ray</b>")
    item = SentQueueItemFactory(
        contact=None, user=user, email_address=None, email="uma@example.com"
    )

    body = client.get(url("opt_out", item)).content.decode()

    assert "Hello Uma &lt;b&gt;Ray&lt;/b&gt;," in body
