"""The database refuses to change or delete audit entries (audit.guard explains the one
documented way to delete them)."""
from django.db import migrations


def install(apps, schema_editor):
    from audit.guard import installed_sql

    for statement in installed_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)


def remove(apps, schema_editor):
    from audit.guard import removed_sql

    for statement in removed_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [("audit", "0002_user_agent")]

    operations = [migrations.RunPython(install, remove)]
