"""Administrators get the permissions of django-axes' models (see and clear login lockouts);
Marketing gets none of them (crm.groups)."""

from django.db import migrations

from crm.groups import update_groups


def groups(apps, schema_editor):
    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_addresses_checked_by_crm_addresses"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [migrations.RunPython(groups, migrations.RunPython.noop)]
