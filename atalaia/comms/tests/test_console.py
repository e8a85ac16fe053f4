"""The console's update form: the preview shows every channel before anything is
published; publishing goes through the same action as the API."""

from atalaia.comms.models import Broadcast, CompanyChannel, Update
from atalaia.incidents.actions import declare_incident
from atalaia.lib.crypto import encrypt
from atalaia.monitoring.models import Monitor
from conftest import signed_in


def test_preview_then_publish(demo, personas):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    Monitor.objects.create(service=incident.services.get(), name="pay", kind="tcp",
                           config={"host": "127.0.0.1", "port": 9}, state="down")
    CompanyChannel.objects.create(name="X", kind="social", max_length=280, target=encrypt("x"),
                                  hint="x")
    console = signed_in(personas["communicator"])
    form = console.get(f"/comms/incidents/{incident.pk}/update/").content.decode()
    # The component's state is suggested from its monitor.
    assert '<option value="major_outage" selected>' in form
    preview = console.post(f"/comms/incidents/{incident.pk}/update/", {
        "status": "identified", "body_en": "The card gateway is down.", "body_pt": "",
        "eta_unknown": "on", "component-payments": "major_outage", "action": "preview"})
    text = preview.content.decode()
    assert preview.status_code == 200 and 'id="previews"' in text
    assert "The card gateway is down." in text
    assert "Encontramos a causa do problema em Payments" in text  # the plan's template
    assert not Update.objects.exists()
    published = console.post(f"/comms/incidents/{incident.pk}/update/", {
        "status": "identified", "body_en": "The card gateway is down.", "body_pt": "",
        "eta_unknown": "on", "component-payments": "major_outage", "action": "publish"})
    assert published.status_code == 302
    update = Update.objects.get()
    assert update.components[0]["status"] == "major_outage"
    assert Broadcast.objects.filter(update=update, audience="channel").count() == 1
    room = console.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="communication"' in room and "Support macro" in room


def test_a_confidential_incident_is_not_published(demo, personas):
    incident = declare_incident(personas["commander"], "Leak", ["payments"], confidential=True)
    console = signed_in(personas["commander"])
    response = console.post(f"/comms/incidents/{incident.pk}/update/", {
        "status": "investigating", "body_en": "a", "body_pt": "b", "action": "publish"},
        follow=True)
    assert "the incident is confidential" in response.content.decode()
    assert not Update.objects.exists()
