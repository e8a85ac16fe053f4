"""List pages and hot endpoints cost a fixed number of queries, whatever the number of rows."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from atalaia.incidents.actions import add_entry, declare_incident
from atalaia.web.context import forget_health
from conftest import api


def queries(fn) -> int:
    # The console's health banner is read every few seconds, not per page: make every
    # measurement include it, whatever the time the setup took.
    forget_health()
    with CaptureQueriesContext(connection) as captured:
        response = fn()
    assert response.status_code == 200
    return len(captured)


def declare(personas, count):
    for i in range(count):
        incident = declare_incident(personas["commander"], f"Incident {i}", ["auth", "dns"])
        add_entry(incident, personas["commander"], "action", "restart")


@pytest.mark.parametrize(("name", "request_"), [
    ("incident list page", lambda c, t, i: c["viewer"].get("/incidents/")),
    ("incident list API", lambda c, t, i: api(c["viewer"], "GET", "/incidents", t["viewer"])),
    ("service list API", lambda c, t, i: api(c["viewer"], "GET", "/services", t["viewer"])),
    ("incident room", lambda c, t, i: c["viewer"].get(f"/incidents/{i}/")),
    ("timeline API", lambda c, t, i: api(c["viewer"], "GET", f"/incidents/{i}/timeline",
                                         t["viewer"])),
])
def test_query_count_does_not_grow_with_rows(demo, personas, clients, tokens, name, request_):
    declare(personas, 2)
    first = declare_incident(personas["commander"], "Watched", ["auth"])
    few = queries(lambda: request_(clients, tokens, first.pk))
    declare(personas, 15)
    for _ in range(15):
        add_entry(first, personas["responder"], "note", "more")
    many = queries(lambda: request_(clients, tokens, first.pk))
    # (The first API call also records the token's last use: one write more.)
    assert many <= few, f"{name}: {few} queries with few rows, {many} with many"
    # The room is the widest page: every phase's panel, quarantined broadcasts among them,
    # and the health banner's job states.
    assert few <= 22, f"{name}: {few} queries"
