"""What *Publish* sends is what the preview showed (issue 12, defect 5): the form shown
under the preview keeps every component row the user added, publishing it sends the
previewed content, and a form changed since its preview is refused, not published."""

from datetime import timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import formats, timezone, translation

from atalaia.comms.models import Update
from atalaia.incidents.actions import declare_incident
from conftest import signed_in


class FormFields(HTMLParser):
    """What a browser would submit from the page's #compose form: inputs (checked
    boxes only), the selected option of each select (else its first), textareas."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._select: str | None = None
        self._first: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._in_form = a.get("id") == "compose"
        if not self._in_form:
            return
        if tag == "input" and a.get("name") and a.get("type") != "submit":
            if a.get("type") != "checkbox" or "checked" in a:
                self.fields[a["name"]] = a.get("value") or ("on" if a.get("type") ==
                                                              "checkbox" else "")
        elif tag == "select":
            self._select, self._first = a["name"], None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value", "")
                self.fields.setdefault(self._select, self._first)
            if "selected" in a:
                self.fields[self._select] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data.removeprefix("\n")


def form_of(html: str) -> dict[str, str]:
    parser = FormFields()
    parser.feed(html)
    return parser.fields


def email_preview(html: str) -> str:
    """The English e-mail's text in the preview."""
    english = html.split("<h2>English</h2>", 1)[1]
    return english.split("<pre>", 1)[1].split("</pre>", 1)[0]


def test_the_form_under_the_preview_publishes_what_was_previewed(demo, personas):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    console = signed_in(personas["communicator"])
    url = f"/comms/incidents/{incident.pk}/update/"
    fields = form_of(console.get(url).content.decode())
    fields.update({"status": "identified", "component-payments": "partial_outage",
                   "add_component": "checkout", "add_component_status": "degraded_performance",
                   "action": "preview"})
    preview = console.post(url, fields).content.decode()
    assert "Affected: Checkout, Payments" in email_preview(preview)

    again = form_of(preview)
    assert again["component-checkout"] == "degraded_performance"
    assert again["component-payments"] == "partial_outage"
    assert again.get("add_component", "") == ""  # the added row is a row now, not a choice

    published = console.post(url, {**again, "action": "publish"})
    assert published.status_code == 302
    update = Update.objects.get()
    assert [(c["service"], c["status"]) for c in update.components] == [
        ("checkout", "degraded_performance"), ("payments", "partial_outage")]
    assert "Checkout, Payments" in update.body_en  # the plan's template, as previewed
    assert update.body_en in email_preview(preview)


def test_a_form_changed_since_its_preview_is_refused_with_the_new_preview(demo, personas):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    console = signed_in(personas["communicator"])
    url = f"/comms/incidents/{incident.pk}/update/"
    fields = {**form_of(console.get(url).content.decode()), "status": "identified",
              "body_en": "The card gateway is down.", "action": "preview"}
    previewed = form_of(console.post(url, fields).content.decode())
    changed = {**previewed, "body_en": "The card gateway is down in Brazil.",
               "action": "publish"}
    refused = console.post(url, changed)
    text = refused.content.decode()
    assert refused.status_code == 409 and not Update.objects.exists()
    assert "changed since its preview" in text
    assert "The card gateway is down in Brazil." in email_preview(text)
    # The page now previews what is in the form: publishing it goes out.
    assert console.post(url, {**form_of(text), "action": "publish"}).status_code == 302
    assert Update.objects.get().body_en == "The card gateway is down in Brazil."


def test_the_expected_resolution_keeps_its_time_through_the_preview(demo, personas):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    zone = ZoneInfo(settings.STATUS_TIME_ZONE)
    eta = (timezone.now() + timedelta(hours=2)).astimezone(zone).replace(second=0,
                                                                          microsecond=0)
    console = signed_in(personas["communicator"])
    url = f"/comms/incidents/{incident.pk}/update/"
    fields = {**form_of(console.get(url).content.decode()), "status": "identified",
              "eta": eta.strftime("%Y-%m-%dT%H:%M"), "action": "preview"}
    fields.pop("eta_unknown", None)
    again = form_of(console.post(url, fields).content.decode())
    assert again["eta"] == eta.strftime("%Y-%m-%dT%H:%M")
    assert console.post(url, {**again, "action": "publish"}).status_code == 302
    assert Update.objects.get().eta == eta
    # The next update's form starts from that same time, in the status page's zone.
    assert form_of(console.get(url).content.decode())["eta"] == eta.strftime("%Y-%m-%dT%H:%M")


def test_an_unreadable_expected_resolution_is_refused(demo, personas):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    console = signed_in(personas["communicator"])
    response = console.post(f"/comms/incidents/{incident.pk}/update/", {
        "status": "identified", "body_en": "a", "body_pt": "b", "eta": "2026-13-45T10:00",
        "component-payments": "major_outage", "action": "publish"})
    assert response.status_code == 400 and not Update.objects.exists()
    assert "expected resolution" in response.content.decode()


def test_the_closing_update_published_from_the_console_is_the_preview(demo, personas):
    from atalaia.comms import actions
    from atalaia.incidents.actions import move_stage
    from conftest import pass_gate

    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    actions.publish_update(incident, personas["communicator"], "identified", "Found it.",
                           "Encontramos.", components={"checkout": "degraded_performance",
                                                       "payments": "major_outage"})
    move_stage(incident, personas["commander"], "resolution")
    pass_gate(incident, personas)
    console = signed_in(personas["communicator"])
    url = f"/comms/incidents/{incident.pk}/update/"
    fields = {**form_of(console.get(url).content.decode()), "status": "resolved",
              "component-payments": "operational", "add_component": "checkout",
              "add_component_status": "operational", "action": "preview"}
    preview = console.post(url, fields).content.decode()
    assert "Affected: Checkout, Payments" in email_preview(preview)
    assert console.post(url, {**form_of(preview), "action": "publish"}).status_code == 302
    (closing,) = Update.objects.filter(status="resolved")  # one closing update, not two
    assert [(c["service"], c["status"]) for c in closing.components] == [
        ("checkout", "operational"), ("payments", "operational")]
    assert closing.body_en.startswith("The problem with Checkout, Payments is resolved")
    assert closing.body_en in email_preview(preview)


def test_a_maintenance_is_listed_at_the_times_it_was_announced_for(demo, personas):
    """The form reads its times in the status page's zone; the list shows them there."""
    from atalaia.comms.models import Maintenance

    zone = ZoneInfo(settings.STATUS_TIME_ZONE)
    start = (timezone.now() + timedelta(days=1)).astimezone(zone).replace(
        hour=22, minute=30, second=0, microsecond=0)
    end = start + timedelta(hours=2)
    console = signed_in(personas["communicator"])
    console.post("/comms/maintenance/", {
        "title_en": "Database upgrade", "title_pt": "Atualização do banco",
        "scheduled_for": start.strftime("%Y-%m-%dT%H:%M"),
        "scheduled_until": end.strftime("%Y-%m-%dT%H:%M"), "components": ["payments"]})
    assert Maintenance.objects.get().scheduled_for == start
    listed = console.get("/comms/maintenance/")
    row = listed.content.decode().split('id="maintenances"', 1)[1].split("</table>", 1)[0]
    with translation.override(listed["Content-Language"]):
        shown = [formats.date_format(moment, "SHORT_DATETIME_FORMAT") for moment in (start, end)]
    assert f"{shown[0]} – {shown[1]}" in row and settings.STATUS_TIME_ZONE in row
