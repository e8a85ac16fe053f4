from django.db import migrations, models


class Migration(migrations.Migration):
    """Entries record the id of the key that made their MAC. Existing entries keep an
    empty id: they are checked with every key of the ring (atalaia/incidents/chain.py)."""

    dependencies = [
        ("incidents", "0006_verification_gate"),
    ]

    operations = [
        migrations.AddField(
            model_name="timelineentry",
            name="mac_key_id",
            field=models.CharField(blank=True, default="", max_length=8),
        ),
    ]
