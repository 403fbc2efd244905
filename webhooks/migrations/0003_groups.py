from django.db import migrations


def update_groups(apps, schema_editor):
    from crm.groups import update_groups

    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    """Administrators get the permissions of webhook endpoints (Marketing does not)."""

    dependencies = [("webhooks", "0002_deliver_webhooks_schedule"), ("crm", "0002_groups")]

    operations = [migrations.RunPython(update_groups, migrations.RunPython.noop)]
