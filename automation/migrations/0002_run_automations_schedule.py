from django.db import migrations

from crm.jobs import ensure_scheduled_jobs


def create_entry(apps, schema_editor):
    ensure_scheduled_jobs(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    """The beat entry "Run Automations" (crm/jobs.py), every minute."""

    dependencies = [
        ("automation", "0001_automations"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_entry, migrations.RunPython.noop)]
