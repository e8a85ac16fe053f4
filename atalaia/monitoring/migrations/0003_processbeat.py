# ProcessBeat moves from web to monitoring (the prober's leases read it, and monitoring
# sits below web). Only Django's idea of the model moves: the table keeps its name and rows.
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("monitoring", "0002_probes_results_maintenance"),
        ("web", "0002_job_state"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ProcessBeat",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True,
                                                   serialize=False, verbose_name="ID")),
                        ("kind", models.CharField(max_length=16)),
                        ("name", models.CharField(max_length=200, unique=True)),
                        ("started_at", models.DateTimeField()),
                        ("seen_at", models.DateTimeField(db_index=True)),
                        ("stopped_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "web_processbeat"},
                ),
            ],
        ),
    ]
