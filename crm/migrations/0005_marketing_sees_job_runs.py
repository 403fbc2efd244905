"""Marketing may look at the job log (crm/groups.py): the groups pick up the new permission."""

from django.db import migrations

from crm.groups import update_groups


def update(apps, schema_editor):
    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [("crm", "0004_imap_position")]

    operations = [migrations.RunPython(update, migrations.RunPython.noop)]
