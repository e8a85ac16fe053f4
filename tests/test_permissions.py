"""Every API route and console page, for every account role and for anonymous users."""

import datetime

import pytest
from django.core import mail
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from atalaia.accounts.models import User
from atalaia.catalog.actions import add_team_member, remove_team_member, save_service
from atalaia.catalog.models import Team
from atalaia.comms.actions import publish_update
from atalaia.comms.export import JSON as STATUSPAGE_JSON
from atalaia.comms.models import Broadcast, CompanyChannel, Maintenance, Update
from atalaia.incidents import gate
from atalaia.incidents.actions import declare_incident
from atalaia.incidents.models import Incident, VerificationCheck
from atalaia.incidents.visibility import can_see
from atalaia.intake.actions import attach_signal, create_integration, record_events
from atalaia.intake.formats.common import Event
from atalaia.intake.models import Integration, Signal
from atalaia.monitoring.models import MaintenanceWindow, Monitor
from atalaia.notify import mailcatcher, outbox
from atalaia.notify.contacts import add_method, add_verified
from atalaia.notify.models import CaughtMail, ContactMethod, Delivery
from atalaia.notify.outbox import enqueue
from atalaia.oncall.models import (
    EscalationPolicy,
    Layer,
    NotificationRule,
    Override,
    Page,
    Schedule,
)
from atalaia.remote.actions import request_adhoc
from atalaia.remote.models import Credential, Host, Run, RunHost
from atalaia.remote.runbooks import import_runbooks
from atalaia.review.actions import open_review
from atalaia.review.models import ActionItem, PlanProposal
from conftest import DEMO, ROLES, api

# A maintenance a month from whenever the suite runs (a fixed date would become the past).
IN_A_MONTH = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(
    days=30)
HOUR = datetime.timedelta(hours=1)

EVERYONE = set(ROLES)
DECLARE = {"admin", "commander", "responder"}
COMMAND = {"admin", "commander"}
RESPOND = {"admin", "commander", "responder"}
COMMUNICATE = {"admin", "commander", "communicator"}
NOTE = {"admin", "commander", "responder", "communicator"}
ADMIN = {"admin"}
MONITORS = {"admin", "commander"}
ONCALL = {"admin", "commander"}
DELIVERIES = {"admin", "commander", "communicator"}
MONITOR = {"service": "intranet", "name": "n", "kind": "tcp",
           "config": {"host": "127.0.0.1", "port": 9}}

# (method, path, body, roles allowed). {id} is an incident every role can see.
API_ROUTES = [
    ("GET", "/services", None, EVERYONE),
    ("GET", "/services/graph", None, EVERYONE),
    ("GET", "/services/payments", None, EVERYONE),
    ("POST", "/services", {"slug": "new-svc", "name": "New"}, ADMIN),
    ("PATCH", "/services/intranet", {"name": "Intranet 2"}, ADMIN),
    ("GET", "/segments", None, EVERYONE),
    ("GET", "/teams", None, EVERYONE),
    ("POST", "/impact", {"services": ["dns"]}, EVERYONE),
    ("GET", "/plans", None, EVERYONE),
    ("GET", "/plans/1", None, EVERYONE),
    ("POST", "/plans/validate", {"source": "name: x"}, EVERYONE),
    ("POST", "/plans", {"source": "PLAN"}, ADMIN),
    ("POST", "/plans/1/activate", None, ADMIN),
    ("POST", "/incidents", {"title": "t", "services": ["dns"]}, DECLARE),
    ("GET", "/incidents", None, EVERYONE),
    ("GET", "/incidents/{id}", None, EVERYONE),
    ("POST", "/incidents/{id}/stage", {"stage": "response"}, COMMAND),
    ("POST", "/incidents/{id}/status", {"status": "identified"}, COMMUNICATE),
    ("PUT", "/incidents/{id}/level", {"level": "critical", "reason": "r"}, COMMAND),
    ("PUT", "/incidents/{id}/roles", {"role": "commander", "username": "commander"}, COMMAND),
    ("PUT", "/incidents/{id}/eta", {"eta": None}, COMMAND),
    ("PUT", "/incidents/{id}/services", {"services": ["cache"]}, RESPOND),
    ("PUT", "/incidents/{id}/security", {"security_risk": False}, RESPOND),
    ("PUT", "/incidents/{id}/visibility", {"confidential": False}, COMMAND),
    ("PUT", "/incidents/{id}/resolution", {"root_cause": "x"}, RESPOND),
    ("GET", "/incidents/{id}/timeline", None, EVERYONE),
    ("POST", "/incidents/{id}/timeline", {"kind": "note", "text": "hi"}, NOTE),
    ("POST", "/incidents/{id}/timeline", {"kind": "action", "text": "did"}, RESPOND),
    ("POST", "/incidents/{id}/checklist/{item}", {"done": True}, RESPOND),
    ("GET", "/integrations", None, ADMIN),
    ("POST", "/integrations", {"kind": "generic", "name": "Scripts"}, ADMIN),
    ("GET", "/signals", None, EVERYONE),
    ("POST", "/signals/{signal}/declare", None, DECLARE),
    ("POST", "/signals/{signal}/attach", {"incident": "{id}"}, RESPOND),
    ("POST", "/signals/{signal}/dismiss", None, RESPOND),
    ("GET", "/monitors", None, EVERYONE),
    ("POST", "/monitors", MONITOR, MONITORS),
    ("GET", "/monitors/{monitor}", None, EVERYONE),
    ("PATCH", "/monitors/{monitor}", {"name": "renamed"}, MONITORS),
    ("DELETE", "/monitors/{monitor}", None, MONITORS),
    ("POST", "/monitors/{monitor}/pause", None, MONITORS),
    ("POST", "/monitors/{monitor}/resume", None, MONITORS),
    ("GET", "/monitors/{monitor}/results", None, EVERYONE),
    ("GET", "/monitors/{monitor}/availability", None, EVERYONE),
    ("GET", "/incidents/{id}/pages", None, EVERYONE),
    ("GET", "/pages/{page}", None, EVERYONE),
    ("POST", "/pages/{page}/acknowledge", None, RESPOND),
    ("POST", "/pages/{page}/reassign", {"username": "viewer"}, RESPOND),
    ("GET", "/incidents/{id}/activation", None, RESPOND),
    ("POST", "/incidents/{id}/activate", None, RESPOND),
    ("GET", "/incidents/{id}/escalations", None, EVERYONE),
    ("POST", "/escalations/{escalation}/escalate", None, RESPOND),
    ("POST", "/incidents/{id}/responders", {"kind": "person", "name": "admin"}, RESPOND),
    ("GET", "/escalation-policies", None, EVERYONE),
    ("POST", "/escalation-policies", {"name": "New", "levels": [
        {"targets": [{"team": "support"}], "escalate_after_minutes": 5}]}, ONCALL),
    ("PUT", "/escalation-policies/{policy}", {"name": "Renamed", "levels": [
        {"targets": [{"team": "support"}], "escalate_after_minutes": 5}]}, ONCALL),
    ("DELETE", "/escalation-policies/{policy}", None, ONCALL),
    ("GET", "/oncall/now", None, EVERYONE),
    ("POST", "/incidents/{id}/updates", {"status": "investigating", "body_en": "a",
                                         "body_pt": "b"}, COMMUNICATE),
    ("GET", "/incidents/{id}/updates", None, EVERYONE),
    ("POST", "/updates/{update}/correct", {"body_en": "a", "body_pt": "b"}, COMMUNICATE),
    ("GET", "/incidents/{id}/macro", None, EVERYONE),
    ("POST", "/incidents/{id}/tickets", {"reference": "T-1"}, NOTE),
    ("POST", "/maintenances", {"title_en": "a", "title_pt": "b",
                               "scheduled_for": IN_A_MONTH.isoformat(),
                               "scheduled_until": (IN_A_MONTH + HOUR).isoformat(),
                               "components": ["payments"]}, COMMUNICATE),
    ("POST", "/maintenances/{maintenance}/move", {"status": "in_progress"}, COMMUNICATE),
    ("PUT", "/components/payments/status", {"status": "degraded_performance"}, COMMUNICATE),
    # The fixture's host credential allows the admin role only (a refusal is a 403).
    ("POST", "/incidents/{id}/runs", {"runbook": "linux-basics", "step": "Disk space"},
     ADMIN),
    ("POST", "/incidents/{id}/adhoc", {"command": "uptime"}, ADMIN),
    ("GET", "/runs/{run}", None, EVERYONE),
    ("GET", "/incidents/{id}/postmortem", None, EVERYONE),
    ("PUT", "/incidents/{id}/postmortem", {"text": "# Notes"}, RESPOND),
    ("POST", "/incidents/{id}/postmortem/publish", {}, RESPOND),
    ("GET", "/incidents/{id}/gate", None, EVERYONE),
    # Nobody holds the incident's commander role: a commander or admin account signs off;
    # the demo plan's manual check is Support's (the responder); only an admin forces.
    ("POST", "/incidents/{id}/gate/signoff", None, COMMAND),
    ("POST", "/incidents/{id}/gate/checks/{check}", None, {"responder"}),
    ("POST", "/incidents/{id}/gate/force", {"reason": "r"}, ADMIN),
    ("GET", "/incidents/{id}/timings", None, EVERYONE),
    ("GET", "/incidents/{id}/review", None, EVERYONE),
    ("POST", "/incidents/{id}/review/feedback", {"plan_rating": 4, "tools_rating": 4}, NOTE),
    ("POST", "/incidents/{id}/review/action-items", {"title": "t"}, RESPOND),
    ("POST", "/incidents/{id}/review/complete", {"note": "n"}, RESPOND),
    ("GET", "/review/aggregates", None, EVERYONE),
]

# Console pages: (method, path, form data, roles allowed).
PAGES = [
    ("GET", "/incidents/", None, EVERYONE),
    ("GET", "/incidents/new/", None, DECLARE),
    ("GET", "/incidents/{id}/", None, EVERYONE),
    ("GET", "/services/", None, EVERYONE),
    ("GET", "/services/graph.svg", None, EVERYONE),
    ("GET", "/services/payments/", None, EVERYONE),
    ("GET", "/services/catalog.yaml", None, EVERYONE),
    ("GET", "/services/import/", None, ADMIN),
    ("GET", "/plan/", None, EVERYONE),
    ("GET", "/plan/v1/", None, EVERYONE),
    ("GET", "/plan/diff/?a=1&b=1", None, EVERYONE),
    ("GET", "/plan/upload/", None, ADMIN),
    ("POST", "/plan/v1/activate/", {}, ADMIN),
    ("GET", "/accounts/tokens/", None, EVERYONE),
    ("GET", "/accounts/users/", None, ADMIN),
    ("GET", "/accounts/users/{user}/", None, ADMIN),
    ("POST", "/accounts/users/{user}/settings/", {"role": "viewer"}, ADMIN),
    ("POST", "/accounts/users/{user}/password/", {}, ADMIN),
    ("POST", "/accounts/users/{user}/two-factor/", {}, ADMIN),
    ("POST", "/accounts/users/{user}/active/", {"active": "1"}, ADMIN),
    ("POST", "/accounts/users/{user}/unlock/", {}, ADMIN),
    ("GET", "/accounts/security/", None, EVERYONE),
    ("POST", "/accounts/security/", {}, EVERYONE),
    ("GET", "/teams/", None, EVERYONE),
    ("POST", "/teams/{team}/members/", {"add": "viewer"}, ADMIN),
    ("GET", "/accounts/audit/", None, ADMIN),
    ("POST", "/incidents/{id}/do/entry/", {"kind": "note", "text": "x"}, NOTE),
    ("POST", "/incidents/{id}/do/stage/", {"stage": "response"}, COMMAND),
    ("POST", "/incidents/{id}/do/status/", {"status": "identified"}, COMMUNICATE),
    ("POST", "/incidents/{id}/do/level/", {"level": "critical", "reason": "r"}, COMMAND),
    ("POST", "/incidents/{id}/do/role/", {"role": "commander"}, COMMAND),
    ("POST", "/incidents/{id}/do/eta/", {"eta": ""}, COMMAND),
    ("POST", "/incidents/{id}/do/services/", {"services": ["cache"]}, RESPOND),
    ("POST", "/incidents/{id}/do/security/", {}, RESPOND),
    ("POST", "/incidents/{id}/do/visibility/", {}, COMMAND),
    ("POST", "/incidents/{id}/do/check/", {"item": "{item}", "done": "1"}, RESPOND),
    ("POST", "/incidents/{id}/do/resolution/", {"root_cause": "x"}, RESPOND),
    ("GET", "/signals/", None, EVERYONE),
    ("POST", "/signals/{signal}/declare/", {}, DECLARE),
    ("POST", "/signals/{signal}/attach/", {"incident": "{id}"}, RESPOND),
    ("POST", "/signals/{signal}/dismiss/", {}, RESPOND),
    ("GET", "/integrations/", None, ADMIN),
    ("GET", "/deliveries/", None, DELIVERIES),
    ("POST", "/deliveries/{delivery}/retry/", {}, COMMAND),
    ("GET", "/contact/", None, EVERYONE),
    ("POST", "/contact/", {"channel": "fax", "target": "x"}, EVERYONE),
    ("POST", "/contact/{contact}/verify/", {"code": "1"}, EVERYONE),
    ("POST", "/contact/{contact}/resend/", {}, EVERYONE),
    ("POST", "/contact/{contact}/delete/", {}, EVERYONE),
    ("GET", "/people/", None, COMMAND),
    ("GET", "/mailcatcher/", None, DELIVERIES),
    ("GET", "/monitors/", None, EVERYONE),
    ("GET", "/monitors/new/", None, MONITORS),
    # Test now with an empty form: the form's errors, and no outbound connection.
    ("POST", "/monitors/new/", {"test": "1"}, MONITORS),
    ("GET", "/monitors/{monitor}/", None, EVERYONE),
    ("GET", "/monitors/{monitor}/edit/", None, MONITORS),
    ("POST", "/monitors/{monitor}/edit/", {"test": "1"}, MONITORS),
    ("GET", "/monitors/{monitor}/delete/", None, MONITORS),
    ("POST", "/monitors/{monitor}/delete/", {}, MONITORS),
    ("POST", "/monitors/{monitor}/pause/", {}, MONITORS),
    ("POST", "/monitors/{monitor}/resume/", {}, MONITORS),
    ("GET", "/maintenance/", None, EVERYONE),
    ("GET", "/maintenance/new/", None, MONITORS),
    ("GET", "/maintenance/{window}/edit/", None, MONITORS),
    ("POST", "/maintenance/{window}/delete/", {}, MONITORS),
    ("GET", "/oncall/", None, EVERYONE),
    ("GET", "/oncall/new/", None, ONCALL),
    ("POST", "/oncall/new/", {"name": ""}, ONCALL),
    ("GET", "/oncall/{schedule}/", None, EVERYONE),
    ("GET", "/oncall/{schedule}/edit/", None, ONCALL),
    ("POST", "/oncall/{schedule}/delete/", {}, ONCALL),
    ("POST", "/oncall/{schedule}/feed/reset/", {}, ONCALL),
    ("GET", "/oncall/{schedule}/layers/new/", None, ONCALL),
    ("GET", "/oncall/{schedule}/layers/{layer}/", None, ONCALL),
    ("POST", "/oncall/{schedule}/layers/{layer}/delete/", {}, ONCALL),
    ("GET", "/oncall/{schedule}/overrides/new/", None, ONCALL),
    ("POST", "/oncall/{schedule}/overrides/{override}/delete/", {}, ONCALL),
    ("POST", "/oncall/my-feed/reset/", {}, EVERYONE),
    ("GET", "/oncall/now/", None, EVERYONE),
    ("GET", "/oncall/pages/", None, EVERYONE),
    ("POST", "/oncall/pages/{page}/acknowledge/", {}, RESPOND),
    ("POST", "/oncall/pages/{page}/reassign/", {"username": "viewer"}, RESPOND),
    ("POST", "/oncall/escalations/{escalation}/escalate/", {}, RESPOND),
    ("GET", "/oncall/incidents/{id}/activate/", None, RESPOND),
    ("POST", "/oncall/incidents/{id}/activate/", {}, RESPOND),
    ("POST", "/oncall/incidents/{id}/responders/", {"kind": "person", "name": "admin"},
     RESPOND),
    ("POST", "/oncall/rules/", {"urgency": "high", "method": "0", "delay_minutes": "1"},
     EVERYONE),
    ("POST", "/oncall/rules/{rule}/delete/", {}, EVERYONE),
    ("GET", "/oncall/policies/", None, EVERYONE),
    ("GET", "/oncall/policies/new/", None, ONCALL),
    ("POST", "/oncall/policies/new/", {"name": ""}, ONCALL),
    ("GET", "/oncall/policies/{policy}/", None, ONCALL),
    ("POST", "/oncall/policies/{policy}/delete/", {}, ONCALL),
    ("GET", "/comms/incidents/{id}/update/", None, COMMUNICATE),
    ("POST", "/comms/incidents/{id}/update/", {"status": "investigating", "action": "preview"},
     COMMUNICATE),
    ("POST", "/comms/incidents/{id}/tickets/", {"reference": "T-2"}, NOTE),
    ("GET", "/comms/updates/{update}/correct/", None, COMMUNICATE),
    ("POST", "/comms/updates/{update}/correct/", {"body_en": "a", "body_pt": "b"},
     COMMUNICATE),
    ("POST", "/comms/broadcasts/{broadcast}/retry/", {}, COMMUNICATE),
    ("GET", "/comms/maintenance/", None, EVERYONE),
    ("POST", "/comms/maintenance/", {"title_en": ""}, COMMUNICATE),
    ("POST", "/comms/maintenance/{maintenance}/move/", {"status": "verifying"}, COMMUNICATE),
    ("GET", "/comms/channels/", None, ADMIN),
    ("POST", "/comms/channels/", {"name": ""}, ADMIN),
    ("POST", "/comms/channels/{channel}/", {}, ADMIN),
    ("GET", "/remote/hosts/", None, ADMIN),
    ("POST", "/remote/hosts/", {"name": ""}, ADMIN),
    ("POST", "/remote/hosts/{host}/trust/", {}, ADMIN),
    ("POST", "/remote/credentials/", {"name": ""}, ADMIN),
    ("GET", "/remote/runbooks/", None, EVERYONE),
    ("POST", "/remote/runbooks/", {"source": "slug: x"}, {"admin", "commander"}),
    ("POST", "/remote/incidents/{id}/runs/", {"step": "linux-basics::Disk space"}, ADMIN),
    ("POST", "/remote/incidents/{id}/sessions/", {"tool": "RustDesk", "summary": "s"},
     RESPOND),
    ("GET", "/remote/runs/{run}/", None, EVERYONE),
    ("GET", "/remote/runs/{run}/live.json", None, EVERYONE),
    ("POST", "/remote/runs/{run}/decide/", {"decision": "reject"}, RESPOND),
    ("POST", "/remote/runs/{run}/fix/", {}, COMMAND),
    ("GET", "/remote/runs/{run}/hosts/{runhost}/recording/", None, EVERYONE),
    ("GET", "/review/dashboard/", None, EVERYONE),
    ("GET", "/review/{id}/", None, EVERYONE),
    ("POST", "/review/{id}/open/", {}, RESPOND),
    ("GET", "/review/{id}/feedback/", None, NOTE),
    ("POST", "/review/{id}/feedback/", {"plan_rating": "4", "tools_rating": "4"}, NOTE),
    ("POST", "/review/{id}/action-items/", {"title": "t"}, RESPOND),
    ("POST", "/review/action-items/{action_item}/done/", {}, RESPOND),
    ("POST", "/review/{id}/complete/", {}, RESPOND),
    ("GET", "/review/actions/", None, EVERYONE),
    ("GET", "/review/{id}/plan/", None, RESPOND),
    ("POST", "/review/{id}/plan/", {"source": "x", "reason": ""}, RESPOND),
    ("GET", "/review/proposals/{proposal}/", None, EVERYONE),
    ("POST", "/review/proposals/{proposal}/decide/", {"decision": "decline"}, ADMIN),
    ("GET", "/review/{id}/postmortem/", None, EVERYONE),
    ("POST", "/review/{id}/postmortem/publish/", {"text": "# Public notes"}, RESPOND),
    ("GET", "/review/{id}/postmortem.md", None, EVERYONE),
    ("GET", "/review/{id}/postmortem.html", None, EVERYONE),
    ("GET", "/review/{id}/postmortem.pdf", None, EVERYONE),
]


@pytest.fixture
def incident(demo, personas):
    incident = declare_incident(personas["admin"], "Permissions", ["dns"])
    integration, _key = create_integration("generic", "Scripts")
    record_events(integration, "generic", [Event(action="trigger", dedup_key="k",
                                                 severity="warning", summary="odd",
                                                 service_hint="intranet")])
    Monitor.objects.create(service=incident.services.first(), name="Permissions",
                           kind="tcp", config={"host": "127.0.0.1", "port": 9})
    MaintenanceWindow.objects.create(title="Permissions", starts_at=incident.declared_at,
                                     duration_minutes=60)
    enqueue("email", "ana@example.test", "Ana", "Permissions", "b",
            idempotency_key="permissions")
    add_method(personas["viewer"], "email", "viewer@example.test", "Permissions")
    schedule = Schedule.objects.create(name="Permissions")
    Layer.objects.create(schedule=schedule, name="Permissions",
                         rotation_start=incident.declared_at)
    Override.objects.create(schedule=schedule, user=personas["viewer"],
                            starts_at=incident.declared_at, ends_at=incident.declared_at)
    # The plan paged the demo teams on declaration; the commander's page is the one
    # the tables act on, and a spare policy (driving nothing) the one they edit.
    EscalationPolicy.objects.create(name="Permissions", levels=[
        {"targets": [{"kind": "team", "id": Team.objects.get(slug="support").pk,
                      "name": "support"}], "delay_minutes": 5}])
    NotificationRule.objects.create(user=personas["viewer"], urgency="high",
                                    method=ContactMethod.objects.get(label="Permissions"))
    publish_update(incident, personas["admin"], "investigating", "Looking", "Verificando")
    Maintenance.objects.create(title_en="Permissions", title_pt="P",
                               scheduled_for=incident.declared_at,
                               scheduled_until=incident.declared_at)
    CompanyChannel.objects.create(name="Permissions", kind="chat", target="x", hint="x")
    import_runbooks((DEMO / "runbooks.yaml").read_text())
    credential = Credential.objects.create(name="Permissions", allowed_roles=["admin"])
    host = Host.objects.create(service=incident.services.first(), name="Permissions",
                               address="127.0.0.1", port=9, username="x", credential=credential,
                               host_key="ssh-ed25519 AAAA")
    run = request_adhoc(incident, personas["admin"], "uptime", [host.pk])
    assert run.hosts.count() == 1
    review = open_review(incident, personas["admin"])
    ActionItem.objects.create(review=review, title="Permissions")
    PlanProposal.objects.create(review=review, source="x", reason="r")
    assert gate.ensure_checks(incident)  # the demo plan's manual check
    return incident


# A confidential incident's words, distinctive enough that finding one in a response
# can only mean it leaked.
SECRET_TITLE = "Quokka vault breach"
SECRET_SUMMARY = "Marmalade ledger exposure"
SECRET_SERVICE = "Zanzibar Ledger"


@pytest.fixture
def secret(incident, personas):
    """A confidential incident the admin declared, which paged the technical team
    (the responder; the commander is left out, as a commander not on it), sent its
    pages and had them caught by the demo's mail catcher."""
    save_service({"slug": "zanzibar", "name": SECRET_SERVICE}, personas["admin"])
    technical = Team.objects.get(slug="technical")
    remove_team_member(technical, personas["commander"], None)
    add_verified(personas["responder"], "email", "responder@example.test", "Secret")
    secret = declare_incident(personas["admin"], SECRET_TITLE, ["zanzibar"],
                              summary=SECRET_SUMMARY, confidential=True)
    add_team_member(technical, personas["commander"], None)
    assert secret.deliveries.exists()
    mail.outbox.clear()
    outbox.send_due()
    for message in mail.outbox:
        # What the catcher's SMTP handler stores (store() itself runs in its own thread).
        mailcatcher.caught(message.from_email, message.to, message.message().as_bytes()).save()
    assert CaughtMail.objects.filter(subject__contains=SECRET_TITLE).exists()
    # Its signal, and its review with an action item, for the lists that show them.
    integration = Integration.objects.get(name="Scripts")
    record_events(integration, "generic", [Event(action="trigger", dedup_key="secret",
                                                 severity="warning", summary="odd too",
                                                 service_hint="zanzibar")])
    attach_signal(Signal.objects.get(dedup_key="secret"), secret, personas["admin"])
    ActionItem.objects.create(review=open_review(secret, personas["admin"]), title="Secret")
    return secret


# Pages that show the service catalog, or pick from it: the confidential incident's
# service is there because it exists, whoever had an incident on it.
CATALOG_SHOWN = {"/services", "/services/graph", "/services/", "/services/graph.svg",
                 "/services/payments/", "/services/catalog.yaml", "/incidents/new/",
                 "/incidents/{id}/", "/monitors/new/", "/monitors/{monitor}/edit/",
                 "/maintenance/new/", "/maintenance/{window}/edit/"}


def _assert_nothing_of(secret: Incident, reader, path: str, response) -> None:
    """A reader who may not see the confidential incident finds none of its words."""
    if reader is not None and can_see(reader, secret):
        return
    words = [SECRET_TITLE, SECRET_SUMMARY]
    if path not in CATALOG_SHOWN:
        words.append(SECRET_SERVICE)
    body = response.content.decode(errors="replace")
    leaked = [text for text in words if text in body]
    assert not leaked, (leaked, response.status_code)


def _fill_oncall(path):
    if "{schedule}" not in path:
        return path
    return path.replace("{schedule}", str(Schedule.objects.get(name="Permissions").pk)).replace(
        "{layer}", str(Layer.objects.get(name="Permissions").pk)).replace(
        "{override}", str(Override.objects.get().pk))


def fill(path, incident):
    path = _fill_oncall(path)
    return path.replace("{id}", str(incident.pk)).replace(
        "{item}", str(incident.checklist.first().pk)).replace(
        "{signal}", str(Signal.objects.get(dedup_key="k").pk)).replace(
        "{user}", str(User.objects.get(username="viewer").pk)).replace(
        "{team}", "support").replace(
        "{monitor}", str(Monitor.objects.get(name="Permissions").pk)).replace(
        "{window}", str(MaintenanceWindow.objects.get(title="Permissions").pk)).replace(
        "{delivery}", str(Delivery.objects.get(idempotency_key="permissions").pk)).replace(
        "{contact}", str(ContactMethod.objects.get(label="Permissions").pk)).replace(
        "{page}", str(Page.objects.get(user__username="commander").pk)).replace(
        "{escalation}", str(Page.objects.get(user__username="commander").escalation_id)).replace(
        "{policy}", str(EscalationPolicy.objects.get(name="Permissions").pk)).replace(
        "{rule}", str(NotificationRule.objects.get().pk)).replace(
        "{update}", str(Update.objects.get().pk)).replace(
        "{broadcast}", str(Broadcast.objects.filter(update__isnull=False).first().pk)).replace(
        "{maintenance}", str(Maintenance.objects.get().pk)).replace(
        "{channel}", str(CompanyChannel.objects.get().pk)).replace(
        "{host}", str(Host.objects.get().pk)).replace(
        "{runhost}", str(RunHost.objects.get().pk)).replace(
        "{run}", str(Run.objects.get().pk)).replace(
        "{proposal}", str(PlanProposal.objects.get().pk)).replace(
        "{check}", str(VerificationCheck.objects.get().pk)).replace(
        "{action_item}", str(ActionItem.objects.get(title="Permissions").pk))


def body_for(body, incident):
    if body == {"source": "PLAN"}:
        from conftest import DEMO

        return {"source": (DEMO / "plan.yaml").read_text()}
    if isinstance(body, dict):
        # "{id}" alone is the incident's number: an integer, as the API's strict types want.
        return {k: incident.pk if v == "{id}" else fill(v, incident) if isinstance(v, str) else v
                for k, v in body.items()}
    return body


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
@pytest.mark.parametrize(("method", "path", "body", "allowed"), API_ROUTES,
                         ids=[f"{m} {p} {b and b.get('kind', '')}" for m, p, b, _ in API_ROUTES])
def test_api_route_enforces_account_role(role, method, path, body, allowed, incident, tokens,
                                         secret, personas):
    token = tokens.get(role)
    reader = personas.get(role)
    response = api(Client(), method, fill(path, incident), token, body_for(body, incident))
    _assert_nothing_of(secret, reader, path, response)
    if role == "anonymous":
        assert response.status_code == 401, response.content
    elif role in allowed:
        assert response.status_code not in (401, 403, 404, 405), (role, response.content)
        assert response.status_code < 500
    else:
        assert response.status_code == 403, (role, response.content)


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
@pytest.mark.parametrize(("method", "path", "data", "allowed"), PAGES,
                         ids=[f"{m} {p}" for m, p, _, _ in PAGES])
def test_page_enforces_account_role(role, method, path, data, allowed, incident, clients,
                                    secret, personas):
    client = clients.get(role, Client())
    reader = personas.get(role)
    if data is not None:
        data = body_for(data, incident)
        if method == "POST" and "role" in data:
            data["user"] = str(incident.declared_by_id)
    response = getattr(client, method.lower())(fill(path, incident), data=data or {})
    _assert_nothing_of(secret, reader, path, response)
    if role == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    elif role in allowed:
        assert response.status_code in (200, 302), (role, response.status_code)
        if response.status_code == 302:  # not sent to sign in
            assert not response["Location"].startswith(("/accounts/login/", "/accounts/2fa/"))
    else:
        assert response.status_code == 403, (role, response.status_code)


def test_every_route_is_in_the_permission_tables():
    """A new route must be added to the tables above, so it is tested for every role."""
    from atalaia.api import api as ninja_api

    api_paths = set()
    for prefix, router in ninja_api._routers:
        for path, view in router.path_operations.items():
            for operation in view.operations:
                for method in operation.methods:
                    full = (prefix.rstrip("/") + "/" + path.lstrip("/")).rstrip("/")
                    api_paths.add((method, full.replace("{incident_id}", "{id}")
                                   .replace("{signal_id}", "{signal}")
                                   .replace("{monitor_id}", "{monitor}")
                                   .replace("{item_id}", "{item}").replace("{slug}", "*")
                                   .replace("{number}", "*").replace("{page_id}", "{page}")
                                   .replace("{escalation_id}", "{escalation}")
                                   .replace("{policy_id}", "{policy}")
                                   .replace("{update_id}", "{update}")
                                   .replace("{maintenance_id}", "{maintenance}")
                                   .replace("{run_id}", "{run}")
                                   .replace("{check_id}", "{check}")))
    tested = {(m, _shape(p)) for m, p, _, _ in API_ROUTES}
    assert {(m, _shape(p)) for m, p in api_paths} <= tested

    page_names = set()
    for pattern in _patterns(get_resolver()):
        page_names.add(pattern)
    tested_pages = {_page_shape(p) for _, p, _, _ in PAGES}
    untested = {p for p in page_names if p not in tested_pages and p not in PUBLIC_PAGES}
    assert not untested, f"pages without permission tests: {sorted(untested)}"


PUBLIC_PAGES = {"healthz", "accounts/login/", "accounts/logout/", "accounts/2fa/verify/",
                # What browsers ask for on their own: a redirect to the static file.
                "favicon.ico",
                "accounts/2fa/enrol/", "accounts/language/", "", "api/v1/",
                # Single sign-on: open to anyone, 404 until configured (accounts/tests/test_sso.py).
                "accounts/sso/login/", "accounts/sso/callback/",
                "accounts/tokens/<int:token_id>/revoke/", "incidents/<int:incident_id>/live/",
                "incidents/<int:incident_id>/do/<str:action>/",
                "signals/<int:signal_id>/<str:decision>/",
                # Intake: authenticated by the integration's key (atalaia/intake/tests).
                "v2/enqueue", "v2/change/enqueue", "intake/pagerduty/v2/enqueue",
                "intake/pagerduty/v2/change/enqueue", "intake/alertmanager",
                "intake/alertmanager/<str:key>", "intake/generic", "intake/generic/<str:key>",
                # Heartbeat pings: authenticated by the monitor's key.
                "ping/<uuid:key>", "ping/<uuid:key>/start", "ping/<uuid:key>/fail",
                "ping/<uuid:key>/<int:exit_code>",
                # On-call feeds: authenticated by the token in the URL (atalaia/oncall/tests).
                "oncall/feeds/schedule/<int:schedule_id>/<str:token>.ics",
                "oncall/feeds/person/<int:user_id>/<str:token>.ics",
                # The acknowledgement link in a page: the signed token is the credential.
                "ack/<str:token>/",
                # The public status site (atalaia/comms/tests): no login by design.
                "status/", "status/incidents/<int:incident_id>", "status/history/",
                "status/badge/<slug:slug>.svg", "status/banner.json", "status/banner.js",
                "status/banner/", "status/style.css", "status/feed.atom",
                "status/maintenance.ics",
                "i/<int:incident_id>", "status/subscribe/",
                # Prometheus: its own address allow-list or token (atalaia/review/tests).
                "metrics",
                # The satisfaction link in the closing message: the token is the credential.
                "feedback/<str:token>/",
                # Subscription links: the signed token is the credential.
                "status/subscribe/confirm/<str:token>/", "status/subscription/<str:token>/",
                "status/unsubscribe/<str:token>/"} | {
    f"status/api/v2/{name}" for name in STATUSPAGE_JSON}


def _shape(path: str) -> str:
    parts = []
    for part in path.strip("/").split("/"):
        if part in ("payments", "intranet", "1") or part.startswith("{slug") or \
                part.startswith("{number"):
            part = "*"
        parts.append(part)
    return "/" + "/".join(parts)


def _page_shape(path: str) -> str:
    path = path.split("?")[0].lstrip("/")
    for concrete, pattern in (("{id}", "<int:incident_id>"), ("{schedule}", "<int:schedule_id>"),
                              ("{layer}", "<int:layer_id>"), ("{override}", "<int:override_id>"),
                              ("payments", "<slug:slug>"),
                              ("v1", "v<int:number>"), ("{monitor}", "<int:monitor_id>"),
                              ("{window}", "<int:window_id>"),
                              ("{delivery}", "<int:delivery_id>"),
                              ("{contact}", "<int:method_id>"), ("{page}", "<int:page_id>"),
                              ("{escalation}", "<int:escalation_id>"),
                              ("{policy}", "<int:policy_id>"), ("{rule}", "<int:rule_id>"),
                              ("{update}", "<int:update_id>"),
                              ("{broadcast}", "<int:broadcast_id>"),
                              ("{maintenance}", "<int:maintenance_id>"),
                              ("{channel}", "<int:channel_id>"), ("{host}", "<int:host_id>"),
                              ("{runhost}", "<int:row_id>"), ("{run}", "<int:run_id>"),
                              ("{proposal}", "<int:proposal_id>"),
                              ("{action_item}", "<int:item_id>"),
                              ("{user}", "<int:user_id>"), ("{team}", "<slug:slug>")):
        path = path.replace(concrete, pattern)
    return path


def _patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("api/"):
                yield "api/v1/"
                continue
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)
