"""The review's API routes."""

import pytest
from django.test import Client

from atalaia.review.models import ActionItem, TeamFeedback
from conftest import ROLES, api


def test_timings_of_an_incident(crisis, tokens):
    response = api(Client(), "GET", f"/incidents/{crisis.pk}/timings", tokens["viewer"])
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()}
    assert rows["mitigate"]["seconds"] == 70 * 60 and rows["mitigate"]["gap_seconds"] == 600
    assert rows["mitigate"]["target_seconds"] == 3600 and rows["mitigate"]["label"]
    assert rows["phase_review"]["end"] is None


def test_the_review_and_feedback(crisis, tokens):
    client = Client()
    sent = api(client, "POST", f"/incidents/{crisis.pk}/review/feedback", tokens["responder"],
               {"worked": "paging", "plan_rating": 4, "tools_rating": 2})
    assert sent.status_code == 200 and sent.json()["user"] == "responder"
    review = api(client, "GET", f"/incidents/{crisis.pk}/review", tokens["viewer"]).json()
    assert review["plan_rating_average"] == 4 and review["tools_rating_average"] == 2
    assert review["user_satisfaction"] == {"count": 0, "average": None}
    assert any("review checklist" in reason for reason in review["blocking"])
    assert [t["name"] for t in review["timings"]][0] == "detect"


@pytest.mark.parametrize(("body", "status"), [
    ({"plan_rating": 6, "tools_rating": 2}, 422),
    ({"plan_rating": 3}, 422),
    ({"plan_rating": 3, "tools_rating": 3, "extra": 1}, 422),
])
def test_feedback_input_is_checked(crisis, tokens, body, status):
    response = api(Client(), "POST", f"/incidents/{crisis.pk}/review/feedback",
                   tokens["responder"], body)
    assert response.status_code == status
    assert not TeamFeedback.objects.exists()


def test_feedback_from_someone_who_did_not_take_part_is_refused(crisis, tokens):
    response = api(Client(), "POST", f"/incidents/{crisis.pk}/review/feedback",
                   tokens["viewer"], {"plan_rating": 3, "tools_rating": 3})
    assert response.status_code == 403


def test_action_items(crisis, tokens):
    client = Client()
    made = api(client, "POST", f"/incidents/{crisis.pk}/review/action-items",
               tokens["responder"], {"title": "Alert on disk", "owner": "responder",
                                     "due_on": "2026-03-01"})
    assert made.status_code == 201
    assert made.json()["overdue"] and made.json()["owner"] == "responder"
    unknown = api(client, "POST", f"/incidents/{crisis.pk}/review/action-items",
                  tokens["responder"], {"title": "x", "owner": "nobody"})
    assert unknown.status_code == 400
    refused = api(client, "POST", f"/incidents/{crisis.pk}/review/action-items",
                  tokens["viewer"], {"title": "x"})
    assert refused.status_code == 403
    assert ActionItem.objects.count() == 1


def test_no_review_before_it_opens(demo, personas, tokens):
    from atalaia.incidents.actions import declare_incident

    incident = declare_incident(personas["commander"], "Open", ["intranet"])
    response = api(Client(), "GET", f"/incidents/{incident.pk}/review", tokens["viewer"])
    assert response.status_code == 404


def test_aggregates(crisis, tokens):
    client = Client()
    response = api(client, "GET", "/review/aggregates?by=level", tokens["viewer"])
    assert response.status_code == 200
    assert response.json()["localized"]["resolve"] == {
        "count": 1, "mean": 6000.0, "median": 6000.0, "p90": 6000.0}
    assert api(client, "GET", "/review/aggregates?by=colour", tokens["viewer"]).status_code \
        == 422


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_every_route_checks_the_role(crisis, tokens, role):
    everyone, respond = set(ROLES), {"admin", "commander", "responder"}
    routes = [
        ("GET", f"/incidents/{crisis.pk}/timings", None, everyone),
        ("GET", f"/incidents/{crisis.pk}/review", None, everyone),
        ("POST", f"/incidents/{crisis.pk}/review/feedback",
         {"plan_rating": 3, "tools_rating": 3}, {"commander", "responder"}),
        ("POST", f"/incidents/{crisis.pk}/review/action-items", {"title": "t"}, respond),
        ("GET", "/review/aggregates", None, everyone),
    ]
    for method, path, body, allowed in routes:
        response = api(Client(), method, path, tokens.get(role), body)
        if role == "anonymous":
            assert response.status_code == 401
        elif role in allowed:
            assert response.status_code in (200, 201), (path, response.content)
        else:
            assert response.status_code == 403, (path, response.content)
