"""The API's docs page (Swagger UI from our static files) works in a real browser under its
Content-Security-Policy: the operations render, nothing is refused, nothing comes from a CDN."""

import pytest

from tests.e2e.test_security_headers_browser import watch_violations

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_render_from_our_own_files(page, live_server, screenshot):
    violations = watch_violations(page)
    foreign = []
    page.on(
        "request",
        lambda request: (
            foreign.append(request.url) if not request.url.startswith(live_server.url) else None
        ),
    )

    page.goto(f"{live_server.url}/api/v1/docs/")
    page.locator(".opblock").first.wait_for()
    screenshot(page, "api-docs")

    assert page.locator(".opblock").count() > 50
    assert page.get_by_text("/api/v1/contacts/upsert/").first.is_visible()
    assert violations == []
    assert foreign == []
