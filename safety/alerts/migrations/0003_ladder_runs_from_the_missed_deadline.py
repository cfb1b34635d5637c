from django.db import migrations, models
from django.db.models import F


def on_time_so_far(apps, schema_editor):
    # Alerts raised before this change ran their ladder from raised_at, and each step was
    # told when it fell due as far as anyone recorded.
    apps.get_model("alerts", "Alert").objects.update(ladder_from=F("raised_at"))
    apps.get_model("alerts", "AlertStep").objects.update(due_at=F("at"))


class Migration(migrations.Migration):

    dependencies = [
        ("alerts", "0002_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="alert",
            name="raised_at",
            field=models.DateTimeField(db_index=True, help_text="When Doorstep actually raised it"),
        ),
        migrations.AlterField(
            model_name="alertstep",
            name="at",
            field=models.DateTimeField(help_text="When the step's people were told"),
        ),
        migrations.AddField(
            model_name="alert",
            name="ladder_from",
            field=models.DateTimeField(null=True, help_text="When the escalation ladder's clock starts"),
        ),
        migrations.AddField(
            model_name="alertstep",
            name="due_at",
            field=models.DateTimeField(null=True, help_text="When the policy's timeline says the step falls due"),
        ),
        migrations.RunPython(on_time_so_far, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="alert",
            name="ladder_from",
            field=models.DateTimeField(help_text="When the escalation ladder's clock starts"),
        ),
        migrations.AlterField(
            model_name="alertstep",
            name="due_at",
            field=models.DateTimeField(help_text="When the policy's timeline says the step falls due"),
        ),
    ]
