from django.db import migrations


def update_groups(apps, schema_editor):
    from crm.groups import update_groups

    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    """Administrators get the permissions of API keys (Marketing does not: crm.groups)."""

    dependencies = [("api", "0001_initial"), ("crm", "0002_groups")]

    operations = [migrations.RunPython(update_groups, migrations.RunPython.noop)]
