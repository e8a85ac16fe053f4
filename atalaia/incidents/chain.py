"""The timeline's tamper-evident chain.

Each entry's MAC is an HMAC-SHA256, keyed by a key derived from the instance
secret (never stored in the database), over the entry's content and the
previous entry's MAC. The incident keeps the head MAC and the entry count, so
removing the newest entry is detected as well as editing or removing any other.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from atalaia.lib.crypto import derive_key

GENESIS = "0" * 64


def entry_mac(incident_id: int, seq: int, kind: str, author_id: int | None, author_name: str,
              created_at_iso: str, body: dict, prev_mac: str) -> str:
    content = json.dumps([incident_id, seq, kind, author_id, author_name, created_at_iso,
                          body, prev_mac], sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False)
    return hmac.new(derive_key("timeline"), content.encode(), hashlib.sha256).hexdigest()


def mac_of(entry) -> str:
    return entry_mac(entry.incident_id, entry.seq, entry.kind, entry.author_id,
                     entry.author_name, iso(entry.created_at), entry.body, entry.prev_mac)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class Break:
    seq: int
    problem: str


def verify(incident) -> Break | None:
    """The first broken link of an incident's chain, or None when it is intact."""
    expected_prev = GENESIS
    expected_seq = 1
    for entry in incident.entries.order_by("seq").iterator():
        if entry.seq != expected_seq:
            return Break(expected_seq, f"entry {expected_seq} is missing "
                                       f"(next present is {entry.seq})")
        if entry.prev_mac != expected_prev:
            return Break(entry.seq, "does not link to the entry before it")
        if not hmac.compare_digest(entry.mac, mac_of(entry)):
            return Break(entry.seq, "content does not match its MAC (edited, or the chain "
                                    "was recomputed without the key)")
        expected_prev = entry.mac
        expected_seq += 1
    count = expected_seq - 1
    if count != incident.entry_count:
        return Break(count + 1, f"the incident records {incident.entry_count} entries but "
                                f"{count} are present (newest removed)")
    if expected_prev != (incident.head_mac or GENESIS):
        return Break(count, "the newest entry is not the one the incident records as head")
    return None
