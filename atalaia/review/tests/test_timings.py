"""Timings from a hand-built timeline on a controlled clock, against the demo plan's
targets for a localized failure: assessment 15, response 60, communication 30,
resolution 240 and review 4320 minutes."""

from atalaia.incidents.actions import declare_incident
from atalaia.remote.models import Run
from atalaia.review import timings
from atalaia.review.tests.conftest import at, walk

MIN = 60.0


def _by_name(incident):
    return {t.name: t for t in timings.for_incident(incident)}


def test_timings_match_the_hand_worked_figures(crisis):
    assert crisis.level == "localized"
    got = _by_name(crisis)
    expected = {  # name: (minutes, target minutes, start, end)
        "detect": (7, None, at(-7), at(0)),
        "acknowledge": (4, None, at(0), at(4)),
        "first_update": (12, 30, at(0), at(12)),
        "mitigate": (70, 60, at(0), at(70)),
        "resolve": (100, 240, at(0), at(100)),
        "phase_assessment": (20, 15, at(0), at(20)),
        "phase_response": (50, 60, at(0), at(50)),
        "phase_communication": (100, 30, at(0), at(100)),
        "phase_resolution": (60, 240, at(50), at(110)),
    }
    for name, (minutes, target, start, end) in expected.items():
        timing = got[name]
        assert (timing.seconds, timing.start, timing.end) == (minutes * MIN, start, end), name
        assert timing.target_seconds == (target * MIN if target else None), name
    review = got["phase_review"]
    assert (review.start, review.end, review.seconds, review.gap) == (at(110), None, None, None)
    assert review.target_seconds == 4320 * MIN
    assert list(got) == timings.NAMES


def test_gaps_against_the_targets(crisis):
    got = _by_name(crisis)
    gaps = {name: t.gap / MIN if t.gap is not None else None for name, t in got.items()}
    assert gaps == {"detect": None, "acknowledge": None, "first_update": -18, "mitigate": 10,
                    "resolve": -140, "phase_assessment": 5, "phase_response": -10,
                    "phase_communication": 70, "phase_resolution": -180, "phase_review": None}
    assert {name for name, t in got.items() if t.over} == {
        "mitigate", "phase_assessment", "phase_communication"}


def test_the_fix_run_mitigates_when_it_came_before_monitoring(crisis):
    Run.objects.create(incident=crisis, step="ad-hoc", kind="change", command="restart",
                       status="done", requested_at=at(25), finished_at=at(30), is_fix=True)
    Run.objects.create(incident=crisis, step="ad-hoc", kind="change", command="look",
                       status="done", requested_at=at(20), finished_at=at(22))
    mitigate = _by_name(crisis)["mitigate"]
    assert (mitigate.seconds, mitigate.end, mitigate.gap) == (30 * MIN, at(30), -30 * MIN)


def test_an_incident_declared_by_hand_has_no_detection_time(demo, personas, clock):
    incident = declare_incident(personas["commander"], "By hand", ["intranet"])
    got = _by_name(incident)
    assert got["detect"].seconds is None and got["detect"].end == at(0)
    assert got["first_update"].seconds is None and got["resolve"].seconds is None
    assert got["phase_assessment"].start == at(0) and got["phase_assessment"].seconds is None


def test_timings_of_one_incident_cost_a_fixed_number_of_queries(crisis,
                                                              django_assert_max_num_queries):
    with django_assert_max_num_queries(8):
        timings.for_incident(crisis)


def test_targets_follow_the_incident_level(demo, personas, clock):
    incident = walk(personas, clock, service="payments", title="Payments down")
    assert incident.level == "critical"
    got = _by_name(incident)
    assert got["first_update"].target_seconds == 10 * MIN
    assert got["phase_assessment"].target_seconds == 5 * MIN
    assert got["resolve"].target_seconds == 60 * MIN and got["resolve"].gap == 40 * MIN
