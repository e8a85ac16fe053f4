"""Timings aggregated over incidents by level, plan version, service and month."""

from atalaia.incidents.actions import declare_incident, move_stage
from atalaia.incidents.models import Incident
from atalaia.plans.actions import import_plan
from atalaia.review import timings
from atalaia.review.tests.conftest import at
from conftest import DEMO

MIN = 60.0


def _declare(personas, clock, start, assessed_after, service="intranet"):
    """An incident declared at `start` minutes whose assessment took `assessed_after`."""
    clock.move_to(at(start))
    incident = declare_incident(personas["commander"], f"at {start}", [service])
    clock.move_to(at(start + assessed_after))
    move_stage(incident, personas["commander"], "response")
    return incident


def test_aggregates_per_level(demo, personas, clock):
    for start, took in ((0, 10), (100, 60), (200, 20)):
        _declare(personas, clock, start, took)
    _declare(personas, clock, 300, 5, service="payments")
    figures = timings.aggregate(Incident.objects.all(), "level")
    assert set(figures) == {"localized", "critical"}
    assert figures["localized"]["phase_assessment"] == {
        "count": 3, "mean": 30 * MIN, "median": 20 * MIN, "p90": 60 * MIN}
    assert figures["critical"]["phase_assessment"] == {
        "count": 1, "mean": 5 * MIN, "median": 5 * MIN, "p90": 5 * MIN}
    # Nothing was resolved: unknown timings are left out, not counted as zero.
    assert figures["localized"]["resolve"] == {"count": 0, "mean": None, "median": None,
                                               "p90": None}


def test_aggregates_per_plan_version(demo, personas, clock):
    _declare(personas, clock, 0, 10)
    _declare(personas, clock, 100, 30)
    import_plan((DEMO / "plan.yaml").read_text(), note="v2")
    _declare(personas, clock, 200, 15)
    figures = timings.aggregate(Incident.objects.all(), "plan_version")
    assert figures["1"]["phase_assessment"]["count"] == 2
    assert figures["1"]["phase_assessment"]["mean"] == 20 * MIN
    assert figures["1"]["phase_assessment"]["median"] == 20 * MIN
    assert figures["1"]["phase_assessment"]["p90"] == 30 * MIN
    assert figures["2"]["phase_assessment"]["mean"] == 15 * MIN


def test_aggregates_per_service_and_month(demo, personas, clock):
    _declare(personas, clock, 0, 10)
    _declare(personas, clock, 60 * 24 * 31, 20, service="payments")  # 2 April
    by_service = timings.aggregate(Incident.objects.all(), "service")
    assert by_service["intranet"]["phase_assessment"]["mean"] == 10 * MIN
    assert by_service["payments"]["phase_assessment"]["mean"] == 20 * MIN
    by_month = timings.aggregate(Incident.objects.all(), "month")
    assert set(by_month) == {"2026-03", "2026-04"}


def test_aggregates_cost_the_same_queries_for_any_number_of_incidents(
        demo, personas, clock, django_assert_max_num_queries):
    for start in range(0, 600, 60):
        _declare(personas, clock, start, 10)
    with django_assert_max_num_queries(9):
        figures = timings.aggregate(Incident.objects.all(), "service")
    assert figures["intranet"]["phase_assessment"]["count"] == 10
