"""What every admin page carries: a favicon, and no "View site" link to a site that is not there."""

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_bare_address_opens_the_admin(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")


def test_every_admin_page_has_a_favicon_and_no_view_site_link(marketer_client):
    html = marketer_client.get(reverse("admin:index")).content.decode()
    assert 'rel="icon"' in html and "crm/favicon.svg" in html
    assert "View site" not in html
    assert finders.find("crm/favicon.svg")


def test_favicon_ico_leads_to_the_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("crm/favicon.svg")
