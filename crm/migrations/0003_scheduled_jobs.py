"""The beat entries "Send Mass Emails" and "Check Group Email Accounts", created once."""

from django.db import migrations

from crm.jobs import ensure_scheduled_jobs


def create_scheduled_jobs(apps, schema_editor):
    ensure_scheduled_jobs(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0002_groups"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_scheduled_jobs, migrations.RunPython.noop)]
