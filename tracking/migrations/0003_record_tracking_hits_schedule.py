"""The beat entry "Record Tracking Hits" (every minute), created only if none has that name."""

from django.db import migrations
from django.utils import timezone

NAME = "Record Tracking Hits"
TASK = "tracking.tasks.record_tracking_hits"


def create_entry(apps, schema_editor):
    alias = schema_editor.connection.alias
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    if periodic_task.objects.using(alias).filter(name=NAME).exists():
        return
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    every_minute, _created = crontab.objects.using(alias).get_or_create(
        minute="*",
        hour="*",
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    periodic_task.objects.using(alias).create(
        name=NAME, task=TASK, crontab=every_minute, enabled=True
    )
    # Tell a running DatabaseScheduler to reload its entries.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.using(alias).update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tracking", "0002_hit_indexes"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_entry, migrations.RunPython.noop)]
