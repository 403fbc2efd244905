"""A CSV import in the admin, in a browser: upload, map, preview, start, the progress bar."""

from pathlib import Path

import pytest

from crm.models import Contact
from people import imports
from people.models import PeopleImport
from tests.e2e.test_campaign_browser import log_in
from tests.factories import MarketerFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_it_imports_a_file_and_follows_its_progress(page, live_server, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    csv_file = tmp_path / "feria.csv"
    csv_file.write_bytes(
        "Correo;Nombre;Empresa\nana@example.com;Ana;\nmal;Malo;\n".encode("cp1252")
    )
    log_in(page, live_server, MarketerFactory(username="ines"))

    page.goto(f"{live_server.url}/admin/people/peopleimport/add/")
    page.set_input_files("#id_file", str(csv_file))
    page.fill("#id_new_list_name", "Feria")
    page.click("input[type=submit]")
    page.wait_for_selector("#mapping")
    assert page.locator("select[name=column_0]").input_value() == "email"
    assert page.get_by_text("“mal” is not an email address (no @).").is_visible()
    page.select_option("select[name=column_2]", "")
    page.screenshot(path=str(SCREENSHOTS / "import-mapping.png"))
    page.click("input[name=start]")
    page.get_by_text("The import has started.").wait_for()
    assert page.locator("progress").get_attribute("value") == "0"

    # The Celery worker's part, here in the test: the page polls and shows the result.
    imports.run_import(PeopleImport.objects.get().pk)
    page.get_by_role("link", name="Download the rows not imported, with reasons (CSV)").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "import-done.png"))
    assert page.locator("progress").get_attribute("value") == "100"
    assert page.locator("[data-field=created]").inner_text() == "1"
    assert page.locator("[data-field=rejected]").inner_text() == "1"
    assert Contact.objects.get().first_name == "Ana"
