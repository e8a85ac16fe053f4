"""The API takes JSON types as they are (no 0 for false, no "5" for 5), answers every
malformed body with its JSON error shape, and refuses what a role may not do with 403."""

import json

import pytest

from atalaia.incidents.actions import declare_incident
from conftest import api

SERVICE = {"slug": "ledger", "name": "Ledger"}
POLICY = {"name": "Nights", "levels": [{"targets": [{"person": "responder"}],
                                        "escalate_after_minutes": 5}]}


def _refused(response, field: str) -> None:
    assert response.status_code == 422, response.content
    assert response["Content-Type"].startswith("application/json")
    assert field in response.json()["detail"]


# -- no coercion -----------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 1, "true", "false", "yes", 0.0])
def test_a_number_or_text_is_not_a_boolean(client, demo, tokens, value):
    response = api(client, "post", "/services", tokens["admin"],
                   {**SERVICE, "component": value})
    _refused(response, "component")


def test_a_boolean_is_not_a_number(client, demo, tokens):
    response = api(client, "post", "/escalation-policies", tokens["admin"],
                   {**POLICY, "ack_timeout_minutes": False})
    _refused(response, "ack_timeout_minutes")


@pytest.mark.parametrize("value", ["30", 30.5, True])
def test_text_or_a_fraction_is_not_an_integer(client, demo, tokens, value):
    response = api(client, "post", "/escalation-policies", tokens["admin"],
                   {**POLICY, "repeats": value})
    _refused(response, "repeats")


def test_a_number_is_not_text(client, demo, tokens):
    response = api(client, "post", "/services", tokens["admin"], {**SERVICE, "name": 42})
    _refused(response, "name")


def test_nested_objects_are_strict_too(client, demo, tokens):
    response = api(client, "post", "/services", tokens["admin"],
                   {**SERVICE, "segments": [{"segment": "staff", "share": "0.5"}]})
    _refused(response, "segments")


def test_the_documented_forms_still_work(client, demo, tokens):
    """Real JSON types, ISO 8601 times and dates, whole numbers where a fraction may be
    given, and enumerated words are all accepted."""
    created = api(client, "post", "/services", tokens["admin"],
                  {**SERVICE, "component": True,
                   "segments": [{"segment": "staff", "share": 1}]})
    assert created.status_code == 201, created.content
    assert created.json()["component"] is True
    policy = api(client, "post", "/escalation-policies", tokens["admin"],
                 {**POLICY, "repeats": 2, "ack_timeout_minutes": 0})
    assert policy.status_code == 201, policy.content
    assert policy.json()["ack_timeout_minutes"] == 0
    incident = api(client, "post", "/incidents", tokens["commander"],
                   {"title": "Ledger down", "services": ["auth"], "confidential": False})
    assert incident.status_code == 201, incident.content
    number = incident.json()["id"]
    eta = api(client, "put", f"/incidents/{number}/eta", tokens["commander"],
              {"eta": "2030-12-01T10:00:00Z"})
    assert eta.status_code == 200, eta.content
    assert eta.json()["eta"].startswith("2030-12-01T10:00:00")
    update = api(client, "post", f"/incidents/{number}/updates", tokens["communicator"],
                 {"status": "identified", "body_en": "Found it.",
                  "eta": "2030-12-01T11:00:00+00:00"})
    assert update.status_code == 201, update.content
    maintenance = api(client, "post", "/maintenances", tokens["communicator"],
                      {"title_en": "Upgrade", "title_pt": "Atualização",
                       "scheduled_for": "2030-12-02T01:00:00Z",
                       "scheduled_until": "2030-12-02T02:00:00Z", "components": ["auth"]})
    assert maintenance.status_code in (201, 422), maintenance.content


def test_a_time_must_be_text(client, demo, tokens, personas):
    incident = declare_incident(personas["commander"], "Slow", ["auth"])
    response = api(client, "put", f"/incidents/{incident.pk}/eta", tokens["commander"],
                   {"eta": 1_900_000_000})
    _refused(response, "eta")


# -- malformed bodies answer in JSON ---------------------------------------------------

def _json_error(response, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()["detail"]


def test_multipart_without_a_boundary(client, demo, tokens, caplog):
    response = client.post("/api/v1/services", data=b"--x\r\n", HTTP_AUTHORIZATION=(
        f"Bearer {tokens['admin']}"), content_type="multipart/form-data")
    assert _json_error(response, 400)
    assert not [r for r in caplog.records if r.exc_info]


def test_a_broken_multipart_body(client, demo, tokens):
    response = client.post("/api/v1/services", data=b"garbage", HTTP_AUTHORIZATION=(
        f"Bearer {tokens['admin']}"), content_type="multipart/form-data; boundary=zz")
    assert _json_error(response, 400)


def test_a_body_over_the_limit(client, demo, tokens, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({**SERVICE, "description": "x" * 2000})
    for content_type in ("application/json", "text/plain", "multipart/form-data; boundary=zz"):
        response = client.post("/api/v1/services", data=body, content_type=content_type,
                               HTTP_AUTHORIZATION=f"Bearer {tokens['admin']}")
        assert "larger than" in _json_error(response, 413)


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe{}", b"", b"[1, 2]", b'"text"'])
def test_a_body_that_is_not_a_json_object(client, demo, tokens, raw):
    response = client.post("/api/v1/services", data=raw, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {tokens['admin']}")
    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]


def test_a_form_body_is_read_as_json_and_refused(client, demo, tokens):
    response = client.post("/api/v1/services", data={"slug": "x", "name": "y"},
                           HTTP_AUTHORIZATION=f"Bearer {tokens['admin']}")
    assert _json_error(response, 400) == "the body is not valid JSON"


def test_the_console_keeps_its_own_answer(client, demo, personas):
    client.force_login(personas["admin"])
    response = client.post("/incidents/1/do/entry/", data=b"--x\r\n",
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json")


# -- role refusals are 403 --------------------------------------------------------------

def test_a_non_admin_forcing_the_gate_is_forbidden(client, demo, tokens, personas):
    incident = declare_incident(personas["commander"], "Gate", ["auth"])
    response = api(client, "post", f"/incidents/{incident.pk}/gate/force",
                   tokens["commander"], {"reason": "trust me"})
    assert "admin" in _json_error(response, 403)
    allowed = api(client, "post", f"/incidents/{incident.pk}/gate/force", tokens["admin"],
                  {"reason": "the monitor is wrong"})
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["forced"]


def test_ticking_someone_elses_check_or_signing_off_is_forbidden(client, demo, tokens,
                                                                  personas):
    from atalaia.incidents import gate

    incident = declare_incident(personas["commander"], "Gate", ["auth"])
    checks = gate.ensure_checks(incident)
    assert checks
    response = api(client, "post", f"/incidents/{incident.pk}/gate/checks/{checks[0].pk}",
                   tokens["viewer"])
    _json_error(response, 403)
    response = api(client, "post", f"/incidents/{incident.pk}/gate/signoff", tokens["viewer"])
    _json_error(response, 403)


def test_the_console_refuses_forcing_with_403(demo, clients, personas):
    incident = declare_incident(personas["commander"], "Gate", ["auth"])
    response = clients["commander"].post(f"/incidents/{incident.pk}/do/gate_force/",
                                         {"reason": "trust me"})
    assert response.status_code == 403


# -- one mechanism for every body --------------------------------------------------------

def _models_in(annotation) -> set[type]:
    """Every pydantic model a field annotation can hold, however deeply nested."""
    from typing import get_args

    from pydantic import BaseModel

    found: set[type] = set()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.add(annotation)
        for field in annotation.model_fields.values():
            found |= _models_in(field.annotation)
    for arg in get_args(annotation):
        found |= _models_in(arg)
    return found


def test_every_request_body_model_is_strict():
    from atalaia.api import api
    from atalaia.lib.apiutil import Input

    bodies: set[type] = set()
    for _prefix, router in api._routers:
        for operations in router.path_operations.values():
            for operation in operations.operations:
                for params in operation.signature.models:
                    if params.__ninja_param_source__ == "body":
                        for field in params.model_fields.values():
                            bodies |= _models_in(field.annotation)
    assert len(bodies) > 30
    loose = sorted(m.__qualname__ for m in bodies if not issubclass(m, Input))
    assert not loose, f"body models not derived from apiutil.Input: {loose}"


def test_too_many_query_fields_answer_in_json(client, demo, tokens, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"f{i}=1" for i in range(20))
    response = client.get(f"/api/v1/services?{query}",
                          HTTP_AUTHORIZATION=f"Bearer {tokens['admin']}")
    assert "cannot be read" in _json_error(response, 400)


def test_an_unknown_api_path_answers_in_json(client, tokens, personas):
    response = client.get("/api/v1/no-such-thing",
                          HTTP_AUTHORIZATION=f"Bearer {tokens['admin']}")
    assert "no such API path" in _json_error(response, 404)
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")
