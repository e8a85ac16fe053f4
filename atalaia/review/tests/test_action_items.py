"""Action items: added with an owner and a due date, completed once, overdue when
their day has passed."""

import datetime as dt

import pytest

from atalaia.incidents.actions import assign_role, declare_incident
from atalaia.incidents.models import EntryKind
from atalaia.review.actions import (
    ReviewError,
    add_action_item,
    complete_action_item,
    open_review,
    overdue_items,
)
from atalaia.review.models import ActionItem
from atalaia.review.tests.conftest import at


def test_items_are_overdue_once_their_day_has_passed(crisis, personas):
    review = crisis.review
    day = at(0).date()
    late = add_action_item(review, personas["commander"], "Alert on disk", personas["responder"],
                           day + dt.timedelta(days=1))
    later = add_action_item(review, personas["commander"], "Update runbook", None,
                            day + dt.timedelta(days=10))
    add_action_item(review, personas["commander"], "Someday", None, None)
    assert list(overdue_items(at(60 * 24))) == []  # due today is not overdue yet
    assert list(overdue_items(at(60 * 24 * 2))) == [late]
    assert complete_action_item(late, personas["responder"])
    assert not complete_action_item(late, personas["responder"])
    assert list(overdue_items(at(60 * 24 * 30))) == [later]


def test_adding_and_completing_write_the_timeline(crisis, personas):
    item = add_action_item(crisis.review, personas["commander"], "Alert on disk",
                           personas["responder"], None)
    complete_action_item(item, personas["responder"])
    bodies = [e.body for e in crisis.entries.filter(kind=EntryKind.REVIEW).order_by("seq")]
    assert [b["event"] for b in bodies] == ["opened", "action_item", "action_item_done"]
    assert bodies[1]["owner"] == "responder"


@pytest.mark.parametrize(("title", "due"), [("", None), ("x" * 301, None),
                                            ("ok", dt.datetime(2026, 3, 3, tzinfo=dt.UTC))])
def test_bad_items_are_refused(crisis, personas, title, due):
    with pytest.raises(ReviewError):
        add_action_item(crisis.review, personas["commander"], title, None, due)
    assert not ActionItem.objects.exists()


def test_a_temporary_fix_gets_an_item_for_the_permanent_one(demo, personas, clock):
    incident = declare_incident(personas["commander"], "Temp", ["intranet"])
    assign_role(incident, personas["commander"], "technical_lead", personas["responder"])
    type(incident).objects.filter(pk=incident.pk).update(fix_is_temporary=True)
    review = open_review(incident, personas["commander"])
    assert open_review(incident, personas["commander"]) == review  # idempotent
    item = ActionItem.objects.get()
    assert item.permanent_fix and item.owner == personas["responder"]


def test_a_fix_marked_temporary_after_the_review_opened_gets_its_action_item(crisis, personas):
    from atalaia.incidents.actions import set_resolution

    set_resolution(crisis, personas["responder"], "disk full", "cleaned /var", temporary=True)
    set_resolution(crisis, personas["responder"], "disk full", "cleaned /var", temporary=True)
    items = crisis.review.action_items.filter(permanent_fix=True)
    assert items.count() == 1 and items.get().done_at is None
