"""Live timelines: new entries pushed to browsers with Server-Sent Events.

One watcher thread per web process polls the database (every
LIVE_POLL_SECONDS) for incidents whose entry count moved, so an entry written
by any process, on any machine, reaches every viewer; the viewers themselves
only wait on a condition and never hold a database connection while idle, so
a hundred viewers cost one small query per poll, not a hundred.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from atalaia.incidents.models import Incident, TimelineEntry

# Entries are committed in lock order, but a slow commit may land after the
# watcher's previous poll: looking this far back catches it.
LOOKBACK = timedelta(seconds=30)


class Hub:
    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.counts: dict[int, int] = {}
        self.viewers: defaultdict[int, int] = defaultdict(int)
        self.thread: threading.Thread | None = None
        # The entries last read for each watched incident, shared by its viewers.
        self.fetch_lock = threading.Lock()
        self.recent: dict[int, list[TimelineEntry]] = {}

    def subscribe(self, incident_id: int) -> None:
        with self.condition:
            self.viewers[incident_id] += 1
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
                self.thread.start()

    def unsubscribe(self, incident_id: int) -> None:
        with self.condition:
            self.viewers[incident_id] -= 1
            if self.viewers[incident_id] <= 0:
                del self.viewers[incident_id]
                self.counts.pop(incident_id, None)
                self.recent.pop(incident_id, None)

    def wait(self, incident_id: int, after: int, timeout: float) -> int:
        """Block until the incident has more than `after` entries (or timeout); the count."""
        deadline = time.monotonic() + timeout
        with self.condition:
            while self.counts.get(incident_id, 0) <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.condition.wait(remaining)
            return self.counts.get(incident_id, 0)

    def _run(self) -> None:
        while True:
            with self.condition:
                watched = list(self.viewers)
            if watched:
                try:
                    self._poll(watched)
                except Exception:  # noqa: BLE001 - a failed poll is retried on the next turn
                    close_old_connections()
            time.sleep(settings.LIVE_POLL_SECONDS)

    def _poll(self, watched: list[int]) -> None:
        since = timezone.now() - LOOKBACK
        known_missing = [i for i in watched if i not in self.counts]
        rows = dict(Incident.objects.filter(pk__in=watched, last_entry_at__gte=since)
                    .values_list("pk", "entry_count"))
        if known_missing:
            rows.update(Incident.objects.filter(pk__in=known_missing)
                        .values_list("pk", "entry_count"))
        # Idle viewers hold no connection: give it back after every poll.
        release_connection()
        with self.condition:
            changed = False
            for pk, count in rows.items():
                if pk in self.viewers and self.counts.get(pk) != count:
                    self.counts[pk] = count
                    changed = True
            if changed:
                self.condition.notify_all()


hub = Hub()


def entries_after(incident_id: int, after: int) -> list[TimelineEntry]:
    """The entries after seq `after` (at most 500). A new entry wakes every viewer of the
    incident at once: the first reads it from the database, the others get the same rows
    from memory, so a hundred viewers cost one query (and connection), not a hundred."""
    with hub.fetch_lock:
        known = hub.counts.get(incident_id)
        cached = hub.recent.get(incident_id)
        # Seqs have no gaps, so a cached run that starts at or before after + 1 and
        # reaches the count the watcher saw holds every entry this viewer may miss.
        if known is not None and cached and cached[0].seq <= after + 1 \
                and cached[-1].seq >= known:
            return [e for e in cached if e.seq > after]
        entries = list(TimelineEntry.objects.filter(incident_id=incident_id, seq__gt=after)
                       .order_by("seq")[:500])
        release_connection()
        if entries and incident_id in hub.viewers:
            hub.recent[incident_id] = entries
        return entries


def release_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()
