"""Maintenance windows: occurrences in local time across daylight saving, the window
covering a service, and the checks on a window's fields."""

from datetime import UTC, datetime, timedelta

import pytest

from atalaia.catalog.models import Service
from atalaia.monitoring.maintenance import (
    WindowError,
    active_window,
    occurrences,
    validate_window,
)
from atalaia.monitoring.models import MaintenanceWindow


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def window(starts_at: str, minutes: int = 60, time_zone: str = "UTC", **fields):
    """An unsaved window; starts_at is the local wall-clock time, as in the YAML file."""
    clean = validate_window({"title": "t", "starts_at": starts_at, "duration_minutes": minutes,
                             "time_zone": time_zone, **fields})
    return MaintenanceWindow(**clean)


def starts(found) -> list[datetime]:
    return [begin for begin, _ in found]


def test_a_one_off_window_occurs_once():
    w = window("2026-12-01T02:00:00", 30, "America/Sao_Paulo")  # UTC-3
    assert occurrences(w, utc(2026, 11, 1), utc(2027, 1, 1)) == [
        (utc(2026, 12, 1, 5, 0), utc(2026, 12, 1, 5, 30))]
    assert occurrences(w, utc(2026, 12, 1, 5, 29), utc(2026, 12, 1, 6)) != []
    assert occurrences(w, utc(2026, 12, 1, 5, 30), utc(2026, 12, 2)) == []  # end is exclusive
    assert occurrences(w, utc(2026, 12, 1), utc(2026, 12, 1, 5, 0)) == []


def test_weekly_on_chosen_weekdays_in_sao_paulo():
    w = window("2026-11-30T22:00:00", 60, "America/Sao_Paulo", recurrence="weekly",
               weekdays=[2, 0])  # Monday and Wednesday, 22:00 local = 01:00 UTC next day
    assert w.weekdays == [0, 2]
    assert starts(occurrences(w, utc(2026, 11, 1), utc(2026, 12, 15))) == [
        utc(2026, 12, 1, 1), utc(2026, 12, 3, 1), utc(2026, 12, 8, 1), utc(2026, 12, 10, 1)]


def test_weekly_without_weekdays_repeats_on_the_weekday_of_the_first():
    w = window("2026-12-01T09:00:00", 15, recurrence="weekly")  # a Tuesday
    assert starts(occurrences(w, utc(2026, 12, 1), utc(2026, 12, 16))) == [
        utc(2026, 12, 1, 9), utc(2026, 12, 8, 9), utc(2026, 12, 15, 9)]


def test_weekly_in_lisbon_keeps_local_time_across_both_daylight_saving_changes():
    w = window("2026-03-15T02:00:00", 60, "Europe/Lisbon", recurrence="weekly", weekdays=[6])
    # Summer time starts on Sunday 29 March: 02:00 local is then 01:00 UTC.
    assert starts(occurrences(w, utc(2026, 3, 1), utc(2026, 4, 6))) == [
        utc(2026, 3, 15, 2), utc(2026, 3, 22, 2), utc(2026, 3, 29, 1), utc(2026, 4, 5, 1)]
    # And ends on Sunday 25 October: 02:00 local is 02:00 UTC again.
    assert starts(occurrences(w, utc(2026, 10, 12), utc(2026, 11, 2))) == [
        utc(2026, 10, 18, 1), utc(2026, 10, 25, 2), utc(2026, 11, 1, 2)]


def test_a_local_time_skipped_by_the_clock_change_is_shifted_forward():
    # Lisbon goes from 01:00 to 02:00 on 29 March 2026: 01:30 does not exist that day.
    w = window("2026-03-27T01:30:00", 30, "Europe/Lisbon", recurrence="daily")
    assert starts(occurrences(w, utc(2026, 3, 27), utc(2026, 3, 31))) == [
        utc(2026, 3, 27, 1, 30), utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),  # 02:30 local, summer time
        utc(2026, 3, 30, 0, 30)]


def test_daily_occurrences_include_one_that_began_before_the_range():
    w = window("2026-12-01T23:00:00", 120, recurrence="daily")
    assert occurrences(w, utc(2026, 12, 3, 0, 30), utc(2026, 12, 4)) == [
        (utc(2026, 12, 2, 23), utc(2026, 12, 3, 1)), (utc(2026, 12, 3, 23), utc(2026, 12, 4, 1))]
    assert occurrences(w, utc(2026, 11, 1), utc(2026, 12, 1, 23)) == []  # none before the first


def test_monthly_on_the_31st_skips_shorter_months():
    w = window("2026-01-31T03:00:00", 60, "America/Sao_Paulo", recurrence="monthly")
    assert [begin.date().isoformat() for begin in
            starts(occurrences(w, utc(2026, 1, 1), utc(2026, 9, 1)))] == [
        "2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31", "2026-08-31"]


def test_no_occurrence_starts_after_until():
    w = window("2026-12-01T02:00:00", 60, recurrence="daily", until="2026-12-03T02:00:00")
    assert starts(occurrences(w, utc(2026, 11, 1), utc(2027, 1, 1))) == [
        utc(2026, 12, 1, 2), utc(2026, 12, 2, 2), utc(2026, 12, 3, 2)]


def test_occurrences_years_after_the_first_keep_its_time():
    w = window("2000-01-01T00:00:00", 10, recurrence="daily")
    assert starts(occurrences(w, utc(2026, 6, 1), utc(2026, 6, 3))) == [
        utc(2026, 6, 1), utc(2026, 6, 2)]


@pytest.fixture
def services(db):
    return {slug: Service.objects.create(slug=slug, name=slug.title())
            for slug in ("checkout", "email", "search")}


def saved(services, slugs, starts_at, minutes, **fields):
    clean = validate_window({"title": f"work on {'+'.join(slugs)}", "starts_at": starts_at,
                             "duration_minutes": minutes, **fields})
    w = MaintenanceWindow.objects.create(**clean)
    w.services.set([services[s] for s in slugs])
    return w


def test_active_window_covers_only_its_services_and_its_time(services,
                                                             django_assert_max_num_queries):
    once = saved(services, ["checkout", "email"], "2026-12-01T02:00:00", 30)
    nightly = saved(services, ["email"], "2026-11-01T03:00:00", 60, recurrence="daily",
                    time_zone="America/Sao_Paulo")  # 06:00 UTC
    saved(services, ["checkout"], "2026-06-01T02:00:00", 30)  # long over
    checkout, email, search = (services[s].pk for s in ("checkout", "email", "search"))
    with django_assert_max_num_queries(2):
        assert active_window(checkout, utc(2026, 12, 1, 2, 10)) == once
    assert active_window(checkout, utc(2026, 12, 1, 2, 30)) is None
    assert active_window(checkout, utc(2026, 12, 1, 1, 59)) is None
    assert active_window(search, utc(2026, 12, 1, 2, 10)) is None
    assert active_window(email, utc(2026, 12, 1, 2, 10)) == once
    assert active_window(email, utc(2026, 12, 20, 6, 59)) == nightly
    assert active_window(email, utc(2026, 12, 20, 7, 0)) is None
    assert active_window(checkout, utc(2026, 12, 20, 6, 30)) is None


def test_active_window_ignores_a_recurring_window_past_its_until(services):
    saved(services, ["search"], "2026-11-01T03:00:00", 60, recurrence="daily",
          until="2026-11-05T03:00:00")
    assert active_window(services["search"].pk, utc(2026, 11, 5, 3, 30)) is not None
    assert active_window(services["search"].pk, utc(2026, 11, 6, 3, 30)) is None


def test_validate_window_returns_aware_utc_times_and_defaults():
    clean = validate_window({"title": "x", "starts_at": datetime(2026, 7, 1, 2, 0),
                             "duration_minutes": 5, "time_zone": "Europe/Lisbon"})
    assert clean["starts_at"] == utc(2026, 7, 1, 1, 0)
    assert (clean["recurrence"], clean["weekdays"], clean["until"]) == ("none", [], None)
    aware = validate_window({"title": "x", "starts_at": utc(2026, 7, 1) + timedelta(hours=1),
                             "duration_minutes": 5, "time_zone": "Europe/Lisbon"})
    assert aware["starts_at"] == utc(2026, 7, 1, 1)


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone", "not a known time zone"),
    ({"time_zone": "../etc/passwd"}, "time_zone", "not a known time zone"),
    ({"duration_minutes": 0}, "duration_minutes", "above 0"),
    ({"duration_minutes": -5}, "duration_minutes", "above 0"),
    ({"recurrence": "weekly", "weekdays": [7]}, "weekdays", "7 is not a day"),
    ({"recurrence": "weekly", "weekdays": [-1]}, "weekdays", "-1 is not a day"),
    ({"recurrence": "daily", "weekdays": [1]}, "weekdays", "only for weekly"),
    ({"recurrence": "daily", "until": "2026-11-30T00:00:00"}, "until", "before starts_at"),
    ({"until": "2027-01-01T00:00:00"}, "until", "only a recurring window"),
    ({"recurrence": "yearly"}, "recurrence", "not one of"),
    ({"starts_at": "tomorrow"}, "starts_at", "not a date and time"),
    ({"title": ""}, "title", "1 to 200 characters"),
])
def test_validate_window_names_the_wrong_field(fields, field, message):
    data = {"title": "x", "starts_at": "2026-12-01T02:00:00", "duration_minutes": 30, **fields}
    with pytest.raises(ValueError, match=message) as caught:
        validate_window(data)
    assert isinstance(caught.value, WindowError)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
