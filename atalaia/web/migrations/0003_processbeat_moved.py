# See monitoring/0003_processbeat: the model now lives in monitoring, on the same table.
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("web", "0002_job_state"),
        ("monitoring", "0003_processbeat"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ProcessBeat")],
        ),
    ]
