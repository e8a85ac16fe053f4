"""The console's review pages: what they show, who may do what, and their queries."""

import datetime as dt

import pytest
from django.test import Client

from atalaia.incidents.actions import tick_checklist
from atalaia.incidents.models import Phase, Stage
from atalaia.review.actions import add_action_item, satisfaction_token, submit_feedback
from atalaia.review.models import ActionItem, TeamFeedback
from atalaia.review.tests.conftest import at
from conftest import ROLES, signed_in

EVERYONE = set(ROLES)
RESPOND = {"admin", "commander", "responder"}
PARTICIPANTS = {"commander", "responder"}  # declared it; paged by the plan


def test_the_review_page_shows_timings_feedback_satisfaction_and_items(
        crisis, personas, django_assert_max_num_queries):
    from atalaia.review.actions import record_user_feedback

    review = crisis.review
    submit_feedback(review, personas["responder"], "Paging was fast", "Old runbook", 4, 2)
    submit_feedback(review, personas["commander"], "", "", 3, 3)
    record_user_feedback(satisfaction_token(crisis, "a@example.test"), 5, "Thanks")
    record_user_feedback(satisfaction_token(crisis, "b@example.test"), 2)
    add_action_item(review, personas["commander"], "Alert on disk", personas["responder"],
                    at(0).date() - dt.timedelta(days=1))
    console = signed_in(personas["viewer"])
    console.get(f"/review/{crisis.pk}/")
    with django_assert_max_num_queries(21):
        page = console.get(f"/review/{crisis.pk}/").content.decode()
    assert '<tr id="timing-mitigate" class="errors over">' in page
    assert '<tr id="timing-first_update">' in page
    assert "1 h 10 min" in page and "+10 min" in page and "−18 min" in page
    assert 'id="plan-average">3.5<' in page and 'id="tools-average">2.5<' in page
    assert "Paging was fast" in page and "Old runbook" in page
    assert 'id="satisfaction-average">3.5<' in page and "Thanks" in page
    assert f'<tr id="item-{ActionItem.objects.get().pk}" class="errors overdue">' in page
    assert f'href="/review/{crisis.pk}/postmortem/"' in page
    assert 'id="complete-button"' not in page  # a viewer may not complete it


def test_completing_from_the_page_closes_the_incident(crisis, personas):
    console = signed_in(personas["commander"])
    refused = console.post(f"/review/{crisis.pk}/complete/", {"note": ""}, follow=True)
    assert "review checklist" in refused.content.decode()
    for item in crisis.checklist.filter(phase=Phase.REVIEW):
        tick_checklist(item, personas["commander"], True)
    done = console.post(f"/review/{crisis.pk}/complete/", {"note": "one-person incident"},
                        follow=True)
    assert 'id="completed"' in done.content.decode()
    crisis.refresh_from_db()
    assert crisis.stage == Stage.CLOSED


def test_feedback_form_for_a_participant(crisis, personas):
    console = signed_in(personas["responder"])
    assert console.get(f"/review/{crisis.pk}/feedback/").status_code == 200
    bad = console.post(f"/review/{crisis.pk}/feedback/", {"plan_rating": "7",
                                                           "tools_rating": "3"})
    assert bad.status_code == 200 and not TeamFeedback.objects.exists()
    good = console.post(f"/review/{crisis.pk}/feedback/", {"worked": "w", "plan_rating": "5",
                                                            "tools_rating": "3"})
    assert good.status_code == 302
    again = console.get(f"/review/{crisis.pk}/feedback/").content.decode()
    assert "replaces that answer" in again


def test_the_open_items_list_puts_overdue_first(crisis, personas,
                                                django_assert_max_num_queries):
    review = crisis.review
    today = at(0).date()
    later = add_action_item(review, None, "Later", None, today + dt.timedelta(days=5))
    undated = add_action_item(review, None, "Undated", None, None)
    late = add_action_item(review, None, "Late", personas["viewer"], today - dt.timedelta(days=2))
    done = add_action_item(review, None, "Done", None, today - dt.timedelta(days=9))
    ActionItem.objects.filter(pk=done.pk).update(done_at=at(0))
    console = signed_in(personas["viewer"])
    console.get("/review/actions/")  # the session and the user, loaded once
    with django_assert_max_num_queries(8):
        page = console.get("/review/actions/").content.decode()
    order = [page.index(f'id="item-{i.pk}"') for i in (late, later, undated)]
    assert order == sorted(order) and f'id="item-{done.pk}"' not in page
    assert f'<tr id="item-{late.pk}" class="errors overdue">' in page
    # The owner may mark their own item done, whatever their account role.
    assert console.post(f"/review/action-items/{late.pk}/done/", {"back": "list"}).status_code \
        == 302
    assert ActionItem.objects.get(pk=late.pk).done_at is not None
    assert console.post(f"/review/action-items/{later.pk}/done/").status_code == 403


def _routes(crisis):
    item = ActionItem.objects.create(review=crisis.review, title="t")
    return [
        ("GET", f"/review/{crisis.pk}/", None, EVERYONE),
        ("POST", f"/review/{crisis.pk}/open/", {}, RESPOND),
        ("GET", f"/review/{crisis.pk}/feedback/", None, PARTICIPANTS),
        ("POST", f"/review/{crisis.pk}/feedback/", {"plan_rating": "4", "tools_rating": "4"},
         PARTICIPANTS),
        ("POST", f"/review/{crisis.pk}/action-items/", {"title": "t"}, RESPOND),
        ("POST", f"/review/action-items/{item.pk}/done/", {}, RESPOND),
        ("POST", f"/review/{crisis.pk}/complete/", {}, RESPOND),
        ("GET", "/review/actions/", None, EVERYONE),
    ]


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_every_page_checks_the_role(crisis, personas, role):
    client = signed_in(personas[role]) if role in personas else Client()
    for method, path, data, allowed in _routes(crisis):
        response = getattr(client, method.lower())(path, data=data or {})
        if role == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        elif role in allowed:
            assert response.status_code in (200, 302), (method, path, response.status_code)
        else:
            assert response.status_code == 403, (method, path, response.status_code)


def test_a_confidential_incident_review_is_hidden_from_outsiders(crisis, personas):
    type(crisis).objects.filter(pk=crisis.pk).update(confidential=True)
    assert signed_in(personas["viewer"]).get(f"/review/{crisis.pk}/").status_code == 404
    assert signed_in(personas["commander"]).get(f"/review/{crisis.pk}/").status_code == 200


def test_the_review_page_before_the_review_opens(demo, personas, clock):
    from atalaia.incidents.actions import declare_incident

    incident = declare_incident(personas["commander"], "Open", ["intranet"])
    page = signed_in(personas["commander"]).get(f"/review/{incident.pk}/")
    assert page.status_code == 200 and 'id="not-open"' in page.content.decode()
    assert signed_in(personas["responder"]).get(
        f"/review/{incident.pk}/feedback/").status_code == 404
