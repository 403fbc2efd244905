import pytest
from django.core.management import CommandError, call_command

from crm.models import EmailAddress, Lead

pytestmark = pytest.mark.django_db


def test_it_imports_leads_into_a_named_list(tmp_path, capsys):
    path = tmp_path / "leads.csv"
    path.write_bytes("correo;nombre;apellido\nana@example.com;Ana;Núñez\nmal\n".encode("cp1252"))

    call_command("import_people", str(path), "--kind", "leads", "--target-list", "Feria")

    out = capsys.readouterr().out
    assert "1 created" in out and "1 rejected" in out and "leads-rejected" in out
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == ("Ana", "Núñez")
    assert lead.targetlistentry_set.get().target_list.name == "Feria"


def test_it_imports_a_suppression_list(tmp_path):
    path = tmp_path / "bounced.csv"
    path.write_text("Email\nbad@example.com\n")

    call_command("import_people", str(path), "--invalid")

    assert EmailAddress.objects.get().invalid is True


def test_it_fails_clearly_without_an_email_column(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("Who\nsomeone\n")

    with pytest.raises(CommandError, match="email address"):
        call_command("import_people", str(path))


def test_it_fails_clearly_on_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_people", str(tmp_path / "nope.csv"))
