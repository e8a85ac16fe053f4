import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from atalaia.incidents import chain
from atalaia.incidents.actions import add_entry, declare_incident
from atalaia.incidents.models import Incident, TimelineEntry


@pytest.fixture
def incident(demo, personas):
    incident = declare_incident(personas["commander"], "Checkout errors", ["payments"])
    for i in range(4):
        add_entry(incident, personas["responder"], "action", f"step {i}")
    return Incident.objects.get(pk=incident.pk)


def verify_output(incident_id):
    from io import StringIO

    out = StringIO()
    try:
        call_command("timeline_verify", str(incident_id), stdout=out)
    except CommandError:
        return False, out.getvalue()
    return True, out.getvalue()


def raw_sql(sql, params):
    # Tampering goes around the application, as an attacker with database access would.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_intact_chain_verifies(incident):
    ok, out = verify_output(incident.pk)
    assert ok and f"{incident.entry_count} entries, chain intact" in out
    assert incident.entry_count >= 5  # the declaration, its paging, and the four steps


def test_edited_entry_is_detected(incident):
    entry = incident.entries.get(seq=3)
    raw_sql(f"UPDATE {TimelineEntry._meta.db_table} SET body = %s WHERE id = %s",
            ['{"text": "step rewritten"}', entry.pk])
    ok, out = verify_output(incident.pk)
    assert not ok and "BROKEN at entry 3" in out


def test_deleted_middle_entry_is_detected(incident):
    raw_sql(f"DELETE FROM {TimelineEntry._meta.db_table} WHERE incident_id = %s AND seq = 2",
            [incident.pk])
    ok, out = verify_output(incident.pk)
    assert not ok and "BROKEN at entry 2: entry 2 is missing" in out


def test_deleted_newest_entry_is_detected(incident):
    raw_sql(f"DELETE FROM {TimelineEntry._meta.db_table} WHERE incident_id = %s AND seq = %s",
            [incident.pk, incident.entry_count])
    ok, out = verify_output(incident.pk)
    assert not ok and "newest removed" in out


def test_chain_recomputed_without_the_key_is_detected(incident):
    # An attacker rewrites an entry and recomputes every MAC after it with a
    # key of their own, and fixes the incident's head too.
    import hashlib
    import hmac
    import json

    prev = chain.GENESIS
    for entry in incident.entries.order_by("seq"):
        body = {"text": "nothing happened"} if entry.seq == 2 else entry.body
        content = json.dumps([entry.incident_id, entry.seq, entry.kind, entry.author_id,
                              entry.author_name, chain.iso(entry.created_at), body, prev],
                             sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        mac = hmac.new(b"guessed key", content.encode(), hashlib.sha256).hexdigest()
        raw_sql(f"UPDATE {TimelineEntry._meta.db_table} SET body = %s, prev_mac = %s, mac = %s "
                "WHERE id = %s", [json.dumps(body), prev, mac, entry.pk])
        prev = mac
    raw_sql(f"UPDATE {Incident._meta.db_table} SET head_mac = %s WHERE id = %s",
            [prev, incident.pk])
    ok, out = verify_output(incident.pk)
    assert not ok and "BROKEN at entry 1" in out


def test_verify_all_reports_each_incident(incident, personas):
    other = declare_incident(personas["commander"], "Second", ["dns"])
    from io import StringIO

    buffer = StringIO()
    call_command("timeline_verify", stdout=buffer)
    other.refresh_from_db()
    assert f"incident {incident.pk}: {incident.entry_count} entries, chain intact" \
        in buffer.getvalue()
    assert f"incident {other.pk}: {other.entry_count} entries, chain intact" in buffer.getvalue()
