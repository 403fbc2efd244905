"""Property-based tests: no string in a token position, header or body makes a public URL
answer 500. Django's test client raises a view's exception, so any crash fails the test."""

import json
from urllib.parse import quote

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.authoring import tokens
from tests.factories import SentQueueItemFactory, TrackingUrlFactory
from tests.tracking.test_esp import auth

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
TOKEN = st.one_of(
    st.text(min_size=1, max_size=80),
    st.text(alphabet="0123456789abcz-.=_+/%AZ", min_size=1, max_size=40),
    st.sampled_from(["äö.ü", "1..x", "-.-", "1.AA==", "%00", "\x00", "1" * 10_000, "a-b-c.d"]),
)
# Header values travel as latin-1 in WSGI.
HEADER = st.one_of(
    st.text(alphabet=st.characters(max_codepoint=255), max_size=400),
    st.sampled_from(["\x00", "Mozilla/5.0\x00", "HeadlessChrome", "Mimecast", "\r\n"]),
)
FORM = st.dictionaries(st.text(max_size=20), st.text(max_size=200), max_size=4)
PATHS = ["/t/o/{}/", "/t/c/{}/", "/t/u/{}/", "/t/u/{}/one-click/", "/t/u/{}/again/"]


def assert_answered(response, path: str) -> None:
    assert response.status_code < 500, path
    if path.startswith("/t/o/") and response.request["REQUEST_METHOD"] == "GET":
        assert response["Content-Type"] == "image/gif"  # the pixel always answers its image


@FUZZ
@given(template=st.sampled_from(PATHS), token=TOKEN)
def test_it_answers_any_token_without_a_500(client, template, token):
    path = template.format(quote(token, safe=""))
    for response in (client.get(path), client.post(path, {"List-Unsubscribe": "One-Click"})):
        assert_answered(response, path)
        if response.status_code == 404 and template != "/t/o/{}/":
            assert "This link is not valid" in response.content.decode()


@pytest.mark.parametrize("path", [f"{t.format('%FF%FE')}?a=%FF" for t in PATHS])
def test_it_answers_bytes_that_are_not_utf8(client, path):
    for response in (client.get(path), client.post(path)):
        assert_answered(response, path)


@pytest.fixture(scope="module")
def item(django_db_blocker):
    """One sent item (and a link) the valid-token examples share, made once for the module."""
    with django_db_blocker.unblock():
        item = SentQueueItemFactory()
        link = TrackingUrlFactory(campaign=item.mass_email.campaign, url="https://example.org/")
        yield item, link
        # Committed outside any test's transaction: all of it goes, or a later test that
        # counts contacts or addresses finds these.
        item.mass_email.campaign.delete()  # its mass email, the item and the link with it
        item.mass_email.email_template.delete()
        item.contact.delete()
        item.email_address.delete()


@FUZZ
@given(
    template=st.sampled_from(PATHS),
    user_agent=HEADER,
    language=HEADER,
    body=FORM,
    query=st.text(max_size=100),
)
def test_it_answers_a_valid_token_whatever_comes_with_it(
    client, item, template, user_agent, language, body, query
):
    queue_item, link = item
    kinds = {"o": (tokens.OPEN,), "c": (tokens.CLICK, link.pk)}
    kind, *more = kinds.get(template[3], (tokens.OPT_OUT,))
    path = template.format(tokens.make(kind, queue_item.pk, *more))
    headers = {"HTTP_USER_AGENT": user_agent, "HTTP_ACCEPT_LANGUAGE": language}
    url = f"{path}?{quote(query)}"
    assert_answered(client.get(url, **headers), path)
    assert_answered(client.post(url, body, **headers), path)
    assert_answered(Client(enforce_csrf_checks=True).post(url, body, **headers), path)


@FUZZ
@given(query=st.text(max_size=200), user_agent=HEADER)
def test_it_answers_the_site_check_whatever_is_asked(client, query, user_agent):
    response = client.get(f"/site-check/?{quote(query)}", HTTP_USER_AGENT=user_agent)
    if "\x00" in query:  # refused before any view, with a page saying so
        assert response.status_code == 400
        assert "NUL character" in response.content.decode()
    else:
        assert response.status_code == 200


ESP = st.sampled_from(["amazon_ses", "mailgun", "postmark", "sendgrid", "nobody"])
JSON_BODY = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=12,
)


@FUZZ
@given(esp=ESP, body=st.one_of(JSON_BODY.map(json.dumps), st.text(max_size=300)))
def test_it_answers_any_esp_webhook_post_without_a_500(client, esp, body):
    path = f"/anymail/{esp}/tracking/"
    for headers in ({}, auth()):
        response = client.post(path, data=body, content_type="application/json", **headers)
        assert response.status_code < 500, (path, body)
