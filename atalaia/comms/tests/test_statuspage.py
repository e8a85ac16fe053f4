"""/status/api/v2/…: every route checked key by key and enum by enum against a JSON
Schema written from Statuspage's public API v2 documentation."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jsonschema_rs
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaia.catalog.models import Service
from atalaia.comms import statuspage
from atalaia.comms.models import ComponentState, Maintenance, Update
from atalaia.incidents.actions import declare_incident
from atalaia.incidents.models import Incident

API = "/status/api/v2/"
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
SCRIPT = "<script>alert('x')</script> & \"quotes\""

# -- the schema, from Statuspage's documentation ---------------------------------------

TIME = {"type": "string",
        "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$"}
MAYBE_TIME = {"anyOf": [TIME, {"type": "null"}]}
STRING = {"type": "string"}
MAYBE_STRING = {"type": ["string", "null"]}
COMPONENT_STATUS = ["operational", "degraded_performance", "partial_outage", "major_outage",
                    "under_maintenance"]
INCIDENT_STATUS = ["investigating", "identified", "monitoring", "resolved", "postmortem"]
MAINTENANCE_STATUS = ["scheduled", "in_progress", "verifying", "completed"]


def strict(properties: dict) -> dict:
    """Exactly these keys: none missing, none more."""
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


PAGE = strict({"id": STRING, "name": STRING, "url": STRING, "time_zone": STRING,
               "updated_at": TIME})
COMPONENT_FIELDS = {
    "id": STRING, "name": STRING, "status": {"enum": COMPONENT_STATUS}, "created_at": TIME,
    "updated_at": TIME, "position": {"type": "integer"}, "description": MAYBE_STRING,
    "showcase": {"type": "boolean"}, "start_date": MAYBE_STRING, "group_id": MAYBE_STRING,
    "page_id": STRING, "group": {"type": "boolean"},
    "only_show_if_degraded": {"type": "boolean"}}
COMPONENT = {"oneOf": [
    strict({**COMPONENT_FIELDS, "group": {"const": False}}),
    strict({**COMPONENT_FIELDS, "group": {"const": True}, "group_id": {"type": "null"},
            "components": {"type": "array", "items": STRING}}),
]}


def update_schema(statuses: list[str]) -> dict:
    affected = strict({"code": STRING, "name": STRING,
                       "old_status": {"enum": COMPONENT_STATUS},
                       "new_status": {"enum": COMPONENT_STATUS}})
    return strict({
        "id": STRING, "status": {"enum": statuses}, "body": STRING, "incident_id": STRING,
        "created_at": TIME, "updated_at": TIME, "display_at": TIME,
        "affected_components": {"anyOf": [{"type": "array", "items": affected},
                                          {"type": "null"}]},
        "deliver_notifications": {"type": "boolean"}, "custom_tweet": MAYBE_STRING,
        "tweet_id": MAYBE_STRING})


INCIDENT_FIELDS = {
    "id": STRING, "name": STRING, "status": {"enum": INCIDENT_STATUS}, "created_at": TIME,
    "updated_at": TIME, "monitoring_at": MAYBE_TIME, "resolved_at": MAYBE_TIME,
    "impact": {"enum": ["none", "minor", "major", "critical"]}, "shortlink": STRING,
    "started_at": TIME, "page_id": STRING,
    "incident_updates": {"type": "array", "items": update_schema(INCIDENT_STATUS)},
    "components": {"type": "array", "items": COMPONENT}}
INCIDENT = strict(INCIDENT_FIELDS)
MAINTENANCE = strict({
    **INCIDENT_FIELDS, "status": {"enum": MAINTENANCE_STATUS},
    "impact": {"const": "maintenance"},
    "incident_updates": {"type": "array", "items": update_schema(MAINTENANCE_STATUS)},
    "scheduled_for": TIME, "scheduled_until": TIME})
STATUS = strict({"indicator": {"enum": ["none", "minor", "major", "critical"]},
                 "description": STRING})


def listing(key: str, item: dict) -> dict:
    return strict({"page": PAGE, key: {"type": "array", "items": item}})


SCHEMAS = {
    "summary.json": strict({"page": PAGE, "components": {"type": "array", "items": COMPONENT},
                            "incidents": {"type": "array", "items": INCIDENT},
                            "scheduled_maintenances": {"type": "array", "items": MAINTENANCE},
                            "status": STATUS}),
    "status.json": strict({"page": PAGE, "status": STATUS}),
    "components.json": listing("components", COMPONENT),
    "incidents.json": listing("incidents", INCIDENT),
    "incidents/unresolved.json": listing("incidents", INCIDENT),
    "scheduled-maintenances.json": listing("scheduled_maintenances", MAINTENANCE),
    "scheduled-maintenances/upcoming.json": listing("scheduled_maintenances", MAINTENANCE),
    "scheduled-maintenances/active.json": listing("scheduled_maintenances", MAINTENANCE),
}


def valid(route: str, payload: dict) -> None:
    errors = [f"{e.instance_path}: {e.message}"
              for e in jsonschema_rs.validator_for(SCHEMAS[route]).iter_errors(payload)]
    assert not errors, "\n".join(errors)


# -- the page ----------------------------------------------------------------------------

@dataclass
class Page:
    active: Incident
    resolved: Incident
    updates: list[Update]  # the active incident's, oldest first
    maintenance: Maintenance
    upcoming: Maintenance


def component(slug: str, name: str, group: str = "", description: str = "") -> Service:
    return Service.objects.create(slug=slug, name=name, is_component=True,
                                  component_group=group, description=description)


def state(service: Service, status: str, start: datetime, end: datetime | None = None):
    return ComponentState.objects.create(service=service, status=status, started_at=start,
                                         ended_at=end)


def update(incident: Incident, status: str, minutes: int, body_en: str, components=(),
           **fields) -> Update:
    return Update.objects.create(incident=incident, status=status, body_en=body_en,
                                 body_pt=f"PT {body_en}", components=list(components),
                                 published_at=T0 + timedelta(minutes=minutes), **fields)


def build_page(user) -> Page:
    """A page with a group of two, two loose components, an active incident with
    three updates, a resolved one, a maintenance in progress and one to come."""
    api = component("api", "API", "Core", "Public REST API")
    web = component("web", "Website", "Core")
    payments = component("payments", "Payments")
    component("search", "Search")
    Service.objects.create(slug="ledger", name="Internal ledger")  # not public
    state(api, "operational", T0 - timedelta(days=30), T0)
    state(api, "partial_outage", T0)
    state(web, "operational", T0 - timedelta(days=30))
    state(payments, "under_maintenance", T0 + timedelta(hours=1))

    active = declare_incident(user, "Checkout errors", ["api", "web", "ledger"])
    Incident.objects.filter(pk=active.pk).update(level="large_scale", public_status="monitoring",
                                                 declared_at=T0 - timedelta(minutes=5))
    updates = [
        update(active, "investigating", 0, "We are looking into checkout errors.",
               [{"service": "api", "name": "API", "status": "partial_outage"}]),
        update(active, "identified", 20, "A bad deploy.", eta=T0 + timedelta(hours=2),
               components=[{"service": "api", "name": "API", "old_status": "partial_outage",
                            "status": "degraded_performance"}]),
        update(active, "monitoring", 40, SCRIPT,
               [{"service": "api", "name": "API", "status": "partial_outage"}]),
    ]
    resolved = declare_incident(user, "Slow search", ["search"])
    Incident.objects.filter(pk=resolved.pk).update(public_status="resolved",
                                                   declared_at=T0 - timedelta(days=2))
    update(resolved, "investigating", -2880, "Search is slow.")
    update(resolved, "resolved", -2820, "Search is fast again.")

    maintenance = Maintenance.objects.create(
        title_en="Payments database upgrade", title_pt="Atualização do banco de pagamentos",
        body_en="Payments may fail, retry later.", body_pt="Pagamentos podem falhar.",
        scheduled_for=T0 + timedelta(hours=1), scheduled_until=T0 + timedelta(hours=3),
        status="in_progress", started_at=T0 + timedelta(hours=1), sequence=2, automatic=False)
    maintenance.components.set([payments])
    upcoming = Maintenance.objects.create(
        title_en="Website move", title_pt="Mudança do site", scheduled_for=T0 + timedelta(days=7),
        scheduled_until=T0 + timedelta(days=7, hours=1))
    upcoming.components.set([web])
    return Page(Incident.objects.get(pk=active.pk), Incident.objects.get(pk=resolved.pk),
                updates, maintenance, upcoming)


@pytest.fixture
def page(personas) -> Page:
    return build_page(personas["communicator"])


def get(client, route: str, **params) -> dict:
    response = client.get(API + route, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    return response.json()


# -- the tests ---------------------------------------------------------------------------

@pytest.mark.parametrize("route", list(SCHEMAS))
def test_every_route_matches_the_statuspage_schema(client, page, route):
    valid(route, get(client, route))
    valid(route, get(client, route, lang="pt-BR"))


@pytest.mark.parametrize("route", list(SCHEMAS))
def test_every_route_matches_the_schema_on_an_empty_page(client, db, route):
    payload = get(client, route)
    valid(route, payload)
    assert payload["page"]["time_zone"] == "America/Sao_Paulo"


@pytest.mark.parametrize("route", ["summary.json", "incidents.json"])
def test_routes_take_no_writes_and_no_login(client, page, route):
    assert client.post(API + route).status_code == 405
    assert client.head(API + route).status_code == 200


def test_page_has_the_configured_name_url_and_zone(client, page, settings):
    settings.STATUS_NAME = "Loja"
    settings.SITE_URL = "https://status.example.org"
    got = get(client, "status.json")["page"]
    assert got["name"] == "Loja" and got["url"] == "https://status.example.org/status/"
    assert got["id"] == statuspage.page_id() and len(got["id"]) == 12
    assert got["updated_at"].endswith("-03:00")


def test_components_are_grouped_as_statuspage_groups(client, page):
    listed = get(client, "components.json")["components"]
    by_id = {c["id"]: c for c in listed}
    group = next(c for c in listed if c["group"])
    assert group["name"] == "Core" and group["id"] == statuspage.group_id("Core")
    assert group["components"] == ["api", "web"]
    assert group["status"] == "partial_outage"  # the worst of its components
    assert [c["id"] for c in listed] == [group["id"], "api", "web", "payments", "search"]
    assert by_id["api"]["group_id"] == by_id["web"]["group_id"] == group["id"]
    assert by_id["payments"]["group_id"] is None and by_id["search"]["group_id"] is None
    assert [by_id[i]["position"] for i in ("api", "web")] == [1, 2]
    assert [c["position"] for c in listed if c["group_id"] is None] == [1, 2, 3]
    assert by_id["api"]["status"] == "partial_outage"
    assert by_id["payments"]["status"] == "under_maintenance"
    assert by_id["search"]["status"] == "operational"
    assert by_id["api"]["description"] == "Public REST API"
    assert by_id["web"]["description"] is None
    assert "ledger" not in by_id
    assert by_id["api"]["created_at"] == statuspage.iso(T0 - timedelta(days=30))
    assert by_id["api"]["updated_at"] == statuspage.iso(T0)


def test_group_ids_are_stable_and_never_a_slug():
    assert statuspage.group_id("Core") == statuspage.group_id("Core")
    assert statuspage.group_id("Core") != statuspage.group_id("core")
    assert ":" in statuspage.group_id("Core")


def test_summary_lists_open_incidents_and_coming_maintenance(client, page):
    got = get(client, "summary.json")
    assert [i["id"] for i in got["incidents"]] == [str(page.active.pk)]
    assert [m["id"] for m in got["scheduled_maintenances"]] == [
        f"maintenance-{page.maintenance.pk}", f"maintenance-{page.upcoming.pk}"]
    # A large-scale incident is a major impact; a partial outage would be minor.
    assert got["status"] == {"indicator": "major", "description": "Partial System Outage"}
    assert get(client, "status.json")["status"] == got["status"]


def test_an_active_incident_in_statuspage_words(client, page):
    (got,) = get(client, "incidents/unresolved.json")["incidents"]
    first, second, third = page.updates
    assert got["name"] == "Checkout errors" and got["status"] == "monitoring"
    assert got["impact"] == "major" and got["resolved_at"] is None
    assert got["shortlink"] == f"http://127.0.0.1:8000/status/incidents/{page.active.pk}"
    assert got["created_at"] == statuspage.iso(first.published_at)
    assert got["started_at"] == statuspage.iso(T0 - timedelta(minutes=5))
    assert got["updated_at"] == got["monitoring_at"] == statuspage.iso(third.published_at)
    assert [u["id"] for u in got["incident_updates"]] == [str(u.pk) for u in
                                                          (third, second, first)]
    assert [u["status"] for u in got["incident_updates"]] == ["monitoring", "identified",
                                                              "investigating"]
    assert got["incident_updates"][0]["body"] == SCRIPT
    assert got["incident_updates"][0]["incident_id"] == str(page.active.pk)
    assert [c["id"] for c in got["components"]] == ["api", "web"]  # never the internal one
    changes = [u["affected_components"] for u in reversed(got["incident_updates"])]
    assert changes == [
        [{"code": "api", "name": "API", "old_status": "operational",
          "new_status": "partial_outage"}],
        [{"code": "api", "name": "API", "old_status": "partial_outage",
          "new_status": "degraded_performance"}],
        [{"code": "api", "name": "API", "old_status": "degraded_performance",
          "new_status": "partial_outage"}],
    ]


def test_a_resolved_incident_has_its_resolution_time(client, page):
    got = get(client, "incidents.json")["incidents"]
    assert [i["id"] for i in got] == [str(page.active.pk), str(page.resolved.pk)]
    resolved = got[1]
    assert resolved["status"] == "resolved" and resolved["impact"] == "minor"
    assert resolved["resolved_at"] == statuspage.iso(T0 - timedelta(minutes=2820))
    assert resolved["monitoring_at"] is None
    assert resolved["incident_updates"][0]["affected_components"] is None
    assert get(client, "incidents/unresolved.json")["incidents"][0]["id"] == str(page.active.pk)


def test_a_corrected_update_shows_when_it_was_corrected(client, page):
    Update.objects.filter(pk=page.updates[0].pk).update(corrected_at=T0 + timedelta(hours=1),
                                                        body_en="Corrected.")
    got = get(client, "incidents/unresolved.json")["incidents"][0]
    oldest = got["incident_updates"][-1]
    assert oldest["body"] == "Corrected."
    assert oldest["created_at"] == oldest["display_at"] == statuspage.iso(
        page.updates[0].published_at)
    assert oldest["updated_at"] == got["updated_at"] == statuspage.iso(T0 + timedelta(hours=1))


def test_maintenances_in_statuspage_words(client, page):
    active = get(client, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    upcoming = get(client, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    listed = get(client, "scheduled-maintenances.json")["scheduled_maintenances"]
    assert [m["id"] for m in listed] == [f"maintenance-{page.upcoming.pk}",
                                         f"maintenance-{page.maintenance.pk}"]
    (got,) = active
    assert got["status"] == "in_progress" and got["impact"] == "maintenance"
    assert got["name"] == "Payments database upgrade"
    assert got["scheduled_for"] == statuspage.iso(T0 + timedelta(hours=1))
    assert got["scheduled_until"] == statuspage.iso(T0 + timedelta(hours=3))
    assert [c["id"] for c in got["components"]] == ["payments"]
    assert [u["status"] for u in got["incident_updates"]] == ["in_progress", "scheduled"]
    assert got["incident_updates"][1]["body"] == "Payments may fail, retry later."
    (coming,) = upcoming
    assert coming["status"] == "scheduled"
    assert coming["incident_updates"][0]["body"] == "Website move"  # no body: its title


def test_portuguese_on_request(client, page):
    got = get(client, "summary.json", lang="pt-BR")
    assert got["incidents"][0]["incident_updates"][0]["body"] == f"PT {SCRIPT}"
    maintenance = got["scheduled_maintenances"][0]
    assert maintenance["name"] == "Atualização do banco de pagamentos"
    assert maintenance["incident_updates"][0]["body"].startswith("A manutenção programada")
    for lang in ("", "fr", "en-US"):
        english = get(client, "summary.json", lang=lang)
        assert english["incidents"][0]["incident_updates"][0]["body"] == SCRIPT
    assert get(client, "summary.json", lang="pt")["scheduled_maintenances"][0]["name"] \
        == "Atualização do banco de pagamentos"


def test_times_are_in_the_status_time_zone(client, page, settings):
    settings.STATUS_TIME_ZONE = "Asia/Kolkata"
    got = get(client, "incidents.json")
    assert got["page"]["time_zone"] == "Asia/Kolkata"
    assert got["incidents"][0]["started_at"] == "2026-03-02T17:25:00.000+05:30"


def test_the_indicator_follows_the_worst_of_incidents_and_components(client, page):
    Incident.objects.filter(pk=page.active.pk).update(level="critical")
    assert get(client, "status.json")["status"] == {"indicator": "critical",
                                                    "description": "Major System Outage"}
    Incident.objects.filter(pk=page.active.pk).update(public_status="resolved")
    assert get(client, "status.json")["status"]["indicator"] == "minor"  # api partial outage
    ComponentState.objects.filter(ended_at__isnull=True, service__slug="api").update(
        status="major_outage")
    assert get(client, "status.json")["status"]["indicator"] == "major"
    ComponentState.objects.exclude(status="under_maintenance").delete()
    assert get(client, "status.json")["status"] == {"indicator": "none",
                                                    "description": "All Systems Operational"}


def test_incidents_json_gives_the_newest_fifty(client, page, personas):
    for n in range(statuspage.NEWEST):
        incident = declare_incident(personas["communicator"], f"Blip {n}", ["api"])
        update(incident, "investigating", n, f"Blip {n}")
    got = get(client, "incidents.json")["incidents"]
    assert len(got) == statuspage.NEWEST
    assert str(page.resolved.pk) not in {i["id"] for i in got}


@pytest.mark.parametrize("route", list(SCHEMAS))
def test_queries_do_not_grow_with_the_number_of_incidents(client, page, personas, route):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            get(client, route)
        return len(queries)

    before = count()
    for n in range(6):
        incident = declare_incident(personas["communicator"], f"Blip {n}", ["api", "web"])
        for minutes in range(3):
            update(incident, "investigating", n * 10 + minutes, "More.",
                   [{"service": "web", "name": "Website", "status": "degraded_performance"}])
        extra = Maintenance.objects.create(
            title_en="More", title_pt="Mais", scheduled_for=T0 + timedelta(days=n + 1),
            scheduled_until=T0 + timedelta(days=n + 2))
        extra.components.set(Service.objects.filter(is_component=True))
    assert count() == before
    assert before <= 12
