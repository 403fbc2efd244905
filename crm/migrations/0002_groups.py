"""The groups Marketing and Administrators with their permissions (rule in crm/groups.py)."""

from django.db import migrations

from crm.groups import update_groups


def create_groups(apps, schema_editor):
    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("crm", "0001_initial"),
        ("targetlists", "0001_initial"),
        ("campaigns", "0002_sentemail"),
        ("tracking", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, migrations.RunPython.noop)]
