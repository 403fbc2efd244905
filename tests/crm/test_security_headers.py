"""Content-Security-Policy on every page, read from the headers (crm.security_headers)."""

import re

import pytest
from django.test import RequestFactory
from django.urls import reverse

from campaigns.authoring import tokens
from crm.security_headers import (
    ADMIN,
    NONCE,
    ContentSecurityPolicyMiddleware,
    content_security_policy,
    header_value,
    policy_for,
)
from tests.factories import (
    EmailTemplateFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TrackingUrlFactory,
)

pytestmark = pytest.mark.django_db


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


def style_nonce(response) -> str | None:
    found = re.search(r'<style nonce="([^"]+)"', response.content.decode(errors="replace"))
    return found[1] if found else None


ADMIN_PAGES = [
    "/admin/login/",
    "/admin/",
    "/admin/crm/contact/",
    "/admin/crm/contact/add/",
    "/admin/campaigns/massemail/add/",
    "/admin/no-such-page/",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_every_admin_page_has_a_self_based_policy(admin_client, path):
    response = admin_client.get(path, follow=path == "/admin/login/")

    policy = directives(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in policy["script-src"] + policy["style-src"]
    assert "'unsafe-eval'" not in policy["script-src"]


def test_an_inline_style_block_carries_the_nonce_the_header_allows(admin_client):
    mass_email = MassEmailFactory()

    response = admin_client.get(reverse("admin:campaigns_massemail_change", args=[mass_email.pk]))
    again = admin_client.get(reverse("admin:campaigns_massemail_change", args=[mass_email.pk]))

    nonce = style_nonce(response)
    assert nonce and f"'nonce-{nonce}'" in directives(response)["style-src"]
    assert style_nonce(again) != nonce  # one per response


def test_a_page_without_inline_blocks_gets_no_nonce(admin_client):
    response = admin_client.get("/admin/crm/contact/")

    assert not any(s.startswith("'nonce-") for s in directives(response)["script-src"])


def public_pages():
    item = SentQueueItemFactory()
    link = TrackingUrlFactory(campaign=item.mass_email.campaign, action="message", message="Hi")
    return {
        "opt-out page": reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)]),
        "pixel": reverse("tracking:open", args=[tokens.make(tokens.OPEN, item.pk)]),
        "message": reverse("tracking:click", args=[tokens.make(tokens.CLICK, item.pk, link.pk)]),
        "invalid link": "/t/u/not-a-token/",
        "site check": "/site-check/",
    }


def test_every_public_page_starts_from_none(client):
    for name, path in public_pages().items():
        response = client.get(path)

        policy = directives(response)
        assert policy["default-src"] == ["'none'"], name
        assert policy["frame-ancestors"] == ["'none'"], name
        assert policy["base-uri"] == ["'none'"], name
        assert set(policy) <= {
            "default-src",
            "style-src",
            "base-uri",
            "form-action",
            "frame-ancestors",
        }, name
        nonce = style_nonce(response)
        if nonce:  # the HTML pages: their one style block, nothing else
            assert policy["style-src"] == [f"'nonce-{nonce}'"], name
        else:
            assert policy.get("style-src", ["'none'"]) == ["'none'"], name


def test_the_opt_out_form_may_post_to_this_site_only(client):
    response = client.get(public_pages()["opt-out page"])

    assert directives(response)["form-action"] == ["'self'"]
    assert 'method="post"' in response.content.decode()


def test_the_template_preview_lets_the_emails_styles_and_images_show(admin_client):
    template = EmailTemplateFactory(
        body_html="<p style='color:red'><img src='https://x.test/a.png'>"
    )

    response = admin_client.get(reverse("admin:crm_emailtemplate_preview", args=[template.pk]))

    policy = directives(response)
    assert response.status_code == 200
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert "https:" in policy["img-src"]
    assert policy["script-src"][0] == "'self'" and "'unsafe-inline'" not in policy["script-src"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_a_view_can_change_its_directives_with_the_decorator():
    @content_security_policy(img_src=["https:"], frame_ancestors=["'self'"], style_src=[])
    def view(request):
        from django.http import HttpResponse

        return HttpResponse("ok")

    middleware = ContentSecurityPolicyMiddleware(lambda request: view(request))
    request = RequestFactory().get("/admin/x/")
    middleware.process_view(request, view, (), {})

    policy = directives(middleware(request))

    assert policy["img-src"] == ["https:"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert "style-src" not in policy
    assert policy["default-src"] == ["'self'"]


def test_a_policy_with_only_an_unused_nonce_allows_nothing():
    text = header_value(policy_for("/t/x/", None, {}), None)

    assert "style-src 'none'" in text
    assert NONCE not in text
    assert "'nonce-abc'" in header_value(policy_for("/admin/", ADMIN, {}), "abc")


def test_a_response_that_has_a_policy_keeps_it():
    def view(request):
        from django.http import HttpResponse

        response = HttpResponse("ok")
        response["Content-Security-Policy"] = "default-src 'self'"
        return response

    response = ContentSecurityPolicyMiddleware(view)(RequestFactory().get("/t/x/"))

    assert response["Content-Security-Policy"] == "default-src 'self'"


def test_djangos_debug_pages_keep_working_in_development(client, settings):
    settings.DEBUG = True

    debug_404 = client.get("/no-such-page/")
    opt_out_404 = client.get("/t/u/not-a-token/")  # our own page, with its nonce'd style

    assert "Content-Security-Policy" not in debug_404
    settings.DEBUG = False
    assert "Content-Security-Policy" in client.get("/no-such-page/")
    assert opt_out_404.status_code == 404
    assert "Content-Security-Policy" in opt_out_404
