from django.db import migrations


def update_groups(apps, schema_editor):
    from crm.groups import update_groups

    update_groups(apps, schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0001_imports_and_signup_forms"),
        ("crm", "0005_consent_records"),
        ("tracking", "0004_opt_out_reasons"),  # its OptOutReason permissions too
    ]

    operations = [migrations.RunPython(update_groups, migrations.RunPython.noop)]
