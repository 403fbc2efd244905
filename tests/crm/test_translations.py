import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from campaigns.authoring import tokens
from campaigns.models import CampaignLogRecord, EmailQueueItem, MassEmail
from targetlists.models import TargetList
from tests.factories import (
    ContactFactory,
    MassEmailFactory,
    SentQueueItemFactory,
    TargetListEntryFactory,
)

CATALOG = Path(settings.BASE_DIR) / "locale" / "es" / "LC_MESSAGES"
# Python format fields, `{…}` template placeholders such as {optOutUrl} or
# {trackingUrl:%(id)s}, and HTML tags: a translation must keep every one of them.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd%]|\{[\w%(][\w.:%()]*\}|<[^>]+>")
# Looked up through other names so that makemessages does not list this file as a source.
translate, translate_plural = translation.gettext, translation.ngettext
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file, each a dict of msgid, msgid_plural, msgstr, msgstr[0], …."""
    entries: list[dict] = []
    entry: dict = {}
    key = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            if entry and not line:
                entries.append(entry)
                entry, key = {}, None
            continue
        if line.startswith('"'):
            entry[key] += ast.literal_eval(line)
            continue
        key, _, value = line.partition(" ")
        if key == "msgid" and "msgid" in entry:
            entries.append(entry)
            entry = {}
        entry[key] = ast.literal_eval(value)
    if entry:
        entries.append(entry)
    return [e for e in entries if e["msgid"]]


@pytest.fixture(scope="module")
def po_entries() -> list[dict]:
    return read_po(CATALOG / "django.po")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_it_translates_key_strings_of_every_app_into_spanish():
    with translation.override("es"):
        assert MassEmail.Status.PENDING.label == "Pendiente"
        assert MassEmail.Status.IN_PROCESS.label == "En Proceso"
        assert EmailQueueItem.Status.SENT.label == "Enviado"
        assert CampaignLogRecord.Action.LEAD_CREATED.label == "Cliente potencial creado"
        assert str(MassEmail._meta.verbose_name) == "Correo Electrónico Masivo"
        assert str(TargetList._meta.verbose_name_plural) == "Listas de Objetivos"
        assert translate("Unsubscribe") == "Cancelar la suscripción"
        assert translate("Subscribe again") == "Volver a suscribirse"
        assert translate("Send test") == "Enviar prueba"
        assert (
            translate_plural("%(count)d address opted out.", "%(count)d addresses opted out.", 3)
            % {"count": 3}
            == "3 direcciones dadas de baja."
        )
    with translation.override("en"):
        assert MassEmail.Status.PENDING.label == "Pending"


def test_it_has_a_spanish_header_with_two_plural_forms(po_entries):
    text = (CATALOG / "django.po").read_text(encoding="utf-8")

    assert '"Language: es\\n"' in text
    assert '"Content-Type: text/plain; charset=UTF-8\\n"' in text
    assert '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' in text
    assert "#, fuzzy" not in text
    assert len(po_entries) > 400


def test_it_translates_every_message_and_keeps_its_placeholders(po_entries):
    for entry in po_entries:
        if "msgid_plural" in entry:
            assert entry["msgstr[0]"] and entry["msgstr[1]"], entry["msgid"]
            assert placeholders(entry["msgstr[1]"]) == placeholders(entry["msgid_plural"])
            assert set(placeholders(entry["msgstr[0]"])) <= set(placeholders(entry["msgid"]))
        else:
            assert entry["msgstr"], entry["msgid"]
            assert placeholders(entry["msgstr"]) == placeholders(entry["msgid"]), entry["msgid"]


def test_it_commits_a_compiled_catalog_in_sync_with_the_po_file(po_entries):
    with (CATALOG / "django.mo").open("rb") as mo:
        compiled = gettext.GNUTranslations(mo)

    for entry in po_entries:
        if "msgid_plural" in entry:
            singular, plural = entry["msgid"], entry["msgid_plural"]
            assert compiled.ngettext(singular, plural, 1) == entry["msgstr[0]"], singular
            assert compiled.ngettext(singular, plural, 2) == entry["msgstr[1]"], singular
        elif "msgctxt" in entry:
            translated = compiled.pgettext(entry["msgctxt"], entry["msgid"])
            assert translated == entry["msgstr"], entry["msgid"]
        else:
            assert compiled.gettext(entry["msgid"]) == entry["msgstr"], entry["msgid"]
    assert compiled.info()["language"] == "es"


@pytest.fixture
def opt_out_url(db) -> str:
    contact = ContactFactory(first_name="Ana", last_name="López")
    entry = TargetListEntryFactory(contact=contact)
    mass_email = MassEmailFactory()
    mass_email.target_lists.set([entry.target_list])
    item = SentQueueItemFactory(mass_email=mass_email, contact=contact)
    return reverse("tracking:opt_out", args=[tokens.make(tokens.OPT_OUT, item.pk)])


def test_it_shows_the_opt_out_page_in_spanish_to_a_spanish_browser(opt_out_url):
    client = Client(HTTP_USER_AGENT=BROWSER, HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9,en;q=0.5")

    page = client.get(opt_out_url).content.decode()
    done = client.post(opt_out_url).content.decode()

    assert '<html lang="es">' in page
    assert "Hola, Ana López:" in page
    assert "deje de recibir los correos enviados a esta lista de correo?" in page
    assert '<button type="submit">Cancelar la suscripción</button>' in page
    assert "Unsubscribe" not in page
    assert "Se ha cancelado su suscripción" in done
    assert "Volver a suscribirse" in done


def test_it_shows_the_opt_out_page_in_english_to_an_english_browser(opt_out_url):
    client = Client(HTTP_USER_AGENT=BROWSER, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9")

    page = client.get(opt_out_url).content.decode()

    assert '<html lang="en">' in page
    assert '<button type="submit">Unsubscribe</button>' in page
    assert "Cancelar" not in page


@pytest.mark.django_db
def test_it_shows_the_admin_login_page_in_spanish():
    response = Client(HTTP_ACCEPT_LANGUAGE="es").get(reverse("admin:login"))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'lang="es"' in body
    assert "Iniciar sesión" in body  # Django's own catalog
    assert "Contraseña" in body
    assert "Correo Electrónico Masivo" in body  # the site header, from ours


@pytest.mark.django_db
def test_the_two_box_selector_reads_without_gender_in_spanish(admin_client):
    with translation.override("en"):  # restores the language the request leaves active
        response = admin_client.get("/admin/jsi18n/", headers={"accept-language": "es"})

    catalog = response.content.decode()
    assert "Selecci\\u00f3n: %s" in catalog or "Selección: %s" in catalog
    assert "Seleccionar todos %s" not in catalog


@pytest.mark.django_db
def test_the_captured_mail_list_shows_dates_in_spanish(admin_client, settings, tmp_path):
    from crm.captured_mail import store

    settings.SMTP_CAPTURE_DIR, settings.DEBUG = tmp_path / "mail", True
    store(
        settings.SMTP_CAPTURE_DIR,
        b"Subject: Hola\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\nHi",
    )

    with translation.override("en"):
        page = admin_client.get(reverse("captured_mail_list"), headers={"accept-language": "es"})

    assert "27/11/2026" in page.content.decode()
    assert "Fri, 27 Nov" not in page.content.decode()
