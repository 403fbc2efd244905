import datetime
import zoneinfo

from django.conf import settings
from django.db import migrations, models


def fill_occurrences(apps, schema_editor):
    """Date-trigger enrolments made before this migration get the date they were for, so that
    the day it runs nobody is enrolled a second time for a birthday already celebrated. Only
    those that entered on their person's date (not added by hand), the first for each date."""
    Automation = apps.get_model("automation", "Automation")
    Enrolment = apps.get_model("automation", "Enrolment")
    people = {"contact": apps.get_model("crm", "Contact"), "lead": apps.get_model("crm", "Lead")}
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    for automation in Automation.objects.filter(trigger="date_field"):
        shift = datetime.timedelta(days=automation.trigger_days)
        name = automation.trigger_date_field
        dates = {
            person_type: dict(model.objects.exclude(**{name: None}).values_list("pk", name))
            for person_type, model in people.items()
        }
        seen, filled = set(), []
        enrolments = Enrolment.objects.filter(automation=automation, person_type__in=people)
        for enrolment in enrolments.order_by("entered_at", "id").iterator():
            occurrence = enrolment.entered_at.astimezone(zone).date() - shift
            date = dates[enrolment.person_type].get(enrolment.person_id)
            key = (enrolment.person_type, enrolment.person_id, occurrence)
            if date is None or (date.month, date.day) != (occurrence.month, occurrence.day):
                continue
            if key not in seen:
                seen.add(key)
                enrolment.occurrence = occurrence
                filled.append(enrolment)
        Enrolment.objects.bulk_update(filled, ["occurrence"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("automation", "0005_step_versions"),
        ("crm", "0015_person_birthday"),
    ]

    operations = [
        migrations.AddField(
            model_name="enrolment",
            name="occurrence",
            field=models.DateField(blank=True, null=True, verbose_name="for the date"),
        ),
        migrations.RunPython(fill_occurrences, migrations.RunPython.noop),
    ]
