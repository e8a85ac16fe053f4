import json

import pytest
from django.test import Client

from conftest import api


@pytest.fixture
def client():
    return Client()


def test_declare_answers_with_level_reason_and_impact(demo, tokens, client):
    response = api(client, "POST", "/incidents", tokens["responder"],
                   {"title": "Login failing", "services": ["auth"], "summary": "500s"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["level"] == "critical"
    assert body["level_reason"].startswith("rule 2")
    assert body["phase"] == "assessment" and body["status"] == "investigating"
    impact = body["impact"]
    compromised = {s["slug"]: s["path"] for s in impact["services"]}
    assert compromised["checkout"] == ["checkout", "payments", "auth"]
    assert compromised["mobile-app"] == ["mobile-app", "api", "auth"]
    assert "database" not in compromised
    # br-consumers: the largest share among compromised services is web-br's 0.7
    segments = {s["slug"]: s["users_affected"] for s in impact["segments"]}
    assert segments["br-consumers"] == 840_000
    assert impact["users_affected"] == sum(segments.values())
    assert impact["critical_services"] == 3 and impact["operational_risk"] == "high"
    listed = api(client, "GET", "/services", tokens["viewer"]).json()
    assert {"slug", "depends_on"} <= set(listed[0])


@pytest.mark.parametrize(("raw", "fragment"), [
    ("{not json", ""),
    ('"just a string"', ""),
    ('{"title": 5, "services": ["auth"]}', "title"),
    ('{"title": "x", "services": "auth"}', "services"),
    ('{"title": "x"}', "services"),
    ('{"title": "x", "services": ["auth"], "colour": "red"}', "colour"),
    ('{"title": "x", "services": ["nope"]}', "unknown service(s): nope"),
    ('{"title": "x", "services": []}', "services"),
    ('{"title": "", "services": ["auth"]}', "title"),
    ('[]', ""),
])
def test_bad_declarations_get_a_4xx_with_a_message(demo, tokens, client, raw, fragment):
    response = api(client, "POST", "/incidents", tokens["admin"], raw=raw)
    assert 400 <= response.status_code < 500, response.content
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert fragment in detail


def test_illegal_transition_is_refused_with_the_reason(demo, tokens, client):
    incident = api(client, "POST", "/incidents", tokens["commander"],
                   {"title": "x", "services": ["dns"]}).json()
    response = api(client, "POST", f"/incidents/{incident['id']}/stage", tokens["commander"],
                   {"stage": "review"})
    assert response.status_code == 409
    assert "cannot move from assessment to review" in response.json()["detail"]
    response = api(client, "POST", f"/incidents/{incident['id']}/status", tokens["commander"],
                   {"status": "resolved"})
    assert response.status_code == 409
    assert "only in the resolution stage" in response.json()["detail"]


def test_full_lifecycle_through_the_api(demo, tokens, client):
    t = tokens["commander"]
    incident = api(client, "POST", "/incidents", t, {"title": "x", "services": ["cache"]}).json()
    path = f"/incidents/{incident['id']}"
    for step, body in [("/stage", {"stage": "response"}), ("/status", {"status": "identified"}),
                       ("/stage", {"stage": "resolution"})]:
        response = api(client, "POST", path + step, t, body)
        assert response.status_code == 200, (step, response.content)
    blocked = api(client, "POST", path + "/status", t, {"status": "resolved"})
    assert blocked.status_code == 409 and "verification gate" in blocked.json()["detail"]
    gate = api(client, "GET", path + "/gate", t).json()
    (check,) = [item["check"] for item in gate["items"] if item["kind"] == "check"]
    assert api(client, "POST", f"{path}/gate/checks/{check}", tokens["responder"]).json()["ok"] \
        is False  # the sign-off is still missing
    assert api(client, "POST", path + "/gate/signoff", t).json()["ok"]
    for step, body in [("/status", {"status": "resolved"}), ("/stage", {"stage": "review"})]:
        response = api(client, "POST", path + step, t, body)
        assert response.status_code == 200, (step, response.content)
    early = api(client, "POST", path + "/stage", t, {"stage": "closed"})
    assert early.status_code == 409 and "review is completed" in early.json()["detail"]
    for item in response.json()["checklist"]:
        if item["phase"] == "review":
            api(client, "POST", f"{path}/checklist/{item['id']}", t, {"done": True})
    done = api(client, "POST", path + "/review/complete", t, {"note": "a quiet night"})
    assert done.status_code == 200, done.content
    final = api(client, "GET", path, t).json()
    assert final["stage"] == "closed" and not final["communication_open"]
    assert all(w["ended_at"] for w in final["phases"].values())
    # Paging entries (the plan's teams paged on declaration) are tested in atalaia/oncall.
    kinds = [e["kind"] for e in api(client, "GET", path + "/timeline", t).json()
             if e["kind"] != "paging"]
    assert kinds[:9] == ["declared", "stage", "status", "stage", "gate", "gate", "status",
                         "review", "stage"]
    assert set(kinds[9:-2]) == {"checklist"} and kinds[-2:] == ["review", "stage"]


def test_level_override_keeps_both_levels(demo, tokens, client):
    t = tokens["commander"]
    incident = api(client, "POST", "/incidents", t, {"title": "x", "services": ["intranet"]}).json()
    assert incident["level"] == "localized"
    response = api(client, "PUT", f"/incidents/{incident['id']}/level", t,
                   {"level": "large_scale", "reason": "CEO demo at 10:00"})
    body = response.json()
    assert body["level"] == "large_scale" and body["plan_level"] == "localized"
    assert body["level_override_reason"] == "CEO demo at 10:00"
    missing_reason = api(client, "PUT", f"/incidents/{incident['id']}/level", t,
                         {"level": "critical", "reason": ""})
    assert missing_reason.status_code == 422


def test_changing_affected_services_recomputes_impact_and_level(demo, tokens, client):
    t = tokens["responder"]
    incident = api(client, "POST", "/incidents", t, {"title": "x", "services": ["intranet"]}).json()
    body = api(client, "PUT", f"/incidents/{incident['id']}/services", t,
               {"services": ["database"]}).json()
    assert body["level"] == "critical"
    assert body["impact"]["services_affected"] > 5
    kinds = [e["kind"] for e in api(client, "GET", f"/incidents/{incident['id']}/timeline",
                                    t).json()]
    raised = len(kinds) - 1 - kinds[::-1].index("level")
    assert kinds[raised - 1] == "impact"
    assert kinds[raised + 1:] and set(kinds[raised + 1:]) == {"paging"}  # the raise pages


def test_confidential_incident_is_hidden_from_non_participants(demo, tokens, personas, client):
    created = api(client, "POST", "/incidents", tokens["responder"],
                  {"title": "Breach", "services": ["auth"], "confidential": True,
                   "security_risk": True, "security_reason": "leaked keys"}).json()
    path = f"/incidents/{created['id']}"
    assert api(client, "GET", path, tokens["responder"]).status_code == 200
    assert api(client, "GET", path, tokens["admin"]).status_code == 200
    assert api(client, "GET", path, tokens["viewer"]).status_code == 404
    assert api(client, "GET", path + "/timeline", tokens["viewer"]).status_code == 404
    # The demo's on-call commander is paged for it, and being paged puts them on it.
    assert api(client, "GET", path + "/timeline", tokens["commander"]).status_code == 200
    listed = api(client, "GET", "/incidents", tokens["viewer"]).json()
    assert created["id"] not in [i["id"] for i in listed]
    page = client.get(f"/incidents/{created['id']}/")
    assert page.status_code == 302  # anonymous


def test_unknown_incident_and_bad_token(demo, tokens, client):
    assert api(client, "GET", "/incidents/999", tokens["viewer"]).status_code == 404
    response = api(client, "GET", "/incidents", "atl_wrong")
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


def test_revoked_token_stops_working(demo, personas, client):
    from atalaia.accounts.actions import create_token, revoke_token

    token, plain = create_token(personas["viewer"], "ci")
    assert api(client, "GET", "/incidents", plain).status_code == 200
    revoke_token(token, personas["admin"])
    assert api(client, "GET", "/incidents", plain).status_code == 401


def test_tokens_are_stored_hashed(personas):
    from atalaia.accounts.actions import create_token
    from atalaia.accounts.models import ApiToken

    _token, plain = create_token(personas["viewer"], "ci")
    stored = ApiToken.objects.get()
    assert plain not in json.dumps([stored.digest, stored.prefix, stored.name])


def test_openapi_schema_is_published(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert "/api/v1/incidents" in response.json()["paths"]


@pytest.mark.parametrize("path", [
    "/incidents?offset=25554477313239777610796367872",
    "/incidents?limit=0",
    "/incidents/1/timeline?after=-1",
    "/incidents/99999999999999999999999",
    "/plans/99999999999999999999",
])
def test_out_of_range_parameters_get_a_4xx(demo, tokens, client, path):
    response = api(client, "GET", path, tokens["viewer"])
    assert 400 <= response.status_code < 500
    assert response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("get", "/api/v1/incidents?status=%00", {}),
    ("post", "/api/v1/incidents", {"data": '{"title": "a\\u0000b", "services": ["auth"]}',
                                   "content_type": "application/json"}),
    ("post", "/incidents/new/", {"data": {"title": "a\x00b", "services": ["auth"]}}),
])
def test_nul_characters_are_refused_everywhere(demo, tokens, clients, method, path, kwargs):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {tokens['admin']}"} if "/api/" in path else {}
    client = clients["commander"]
    response = getattr(client, method)(path, **kwargs, **headers)
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_unknown_filter_value_is_a_422(demo, tokens, client):
    response = api(client, "GET", "/incidents?level=owner", tokens["viewer"])
    assert response.status_code == 422 and "level" in response.json()["detail"]
