from django.db import migrations


def update_groups(apps, schema_editor):
    from crm.groups import update_groups

    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    """Marketing and Administrators get the permissions of automations (crm.groups)."""

    dependencies = [("automation", "0003_enrolment_due_in_claim_order"), ("crm", "0002_groups")]

    operations = [migrations.RunPython(update_groups, migrations.RunPython.noop)]
