from django.db import migrations


def update_groups(apps, schema_editor):
    from crm.groups import update_groups

    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    """The groups get the permissions of the new ImportedBatch model (crm/groups.py)."""

    dependencies = [("people", "0006_merge_20261202_0154")]

    operations = [migrations.RunPython(update_groups, migrations.RunPython.noop)]
