from django.db import migrations, models


class Migration(migrations.Migration):
    # Apart from 0006, whose rows it checks: PostgreSQL alters a table in a transaction of
    # its own, not in the one that updated its rows.
    dependencies = [("automation", "0006_enrolment_occurrence")]

    operations = [
        migrations.AddConstraint(
            model_name="enrolment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("occurrence__isnull", False)),
                fields=("automation", "person_type", "person_id", "occurrence"),
                name="enrolment_once_per_occurrence",
            ),
        ),
    ]
