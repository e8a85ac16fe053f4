"""Whoever was paged before paging made people participants joins the incident
now, so that the link in their page opens a confidential incident for them."""

from django.db import migrations


def paged_people_take_part(apps, schema_editor):
    Page = apps.get_model("oncall", "Page")
    Incident = apps.get_model("incidents", "Incident")
    through = Incident.participants.through
    have = set(through.objects.values_list("incident_id", "user_id"))
    wanted = set(Page.objects.values_list("incident_id", "user_id")) - have
    through.objects.bulk_create([through(incident_id=incident, user_id=user)
                                 for incident, user in wanted], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("oncall", "0003_page_deliveries"),
        ("incidents", "0006_verification_gate"),
    ]

    operations = [
        migrations.RunPython(paged_people_take_part, migrations.RunPython.noop),
    ]
