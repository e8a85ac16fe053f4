"""The timeline's tamper-evident chain.

Each entry's MAC is an HMAC-SHA256, keyed by a key derived from the instance
secret (never stored in the database), over the entry's content and the
previous entry's MAC. The incident keeps the head MAC and the entry count, so
removing the newest entry is detected as well as editing or removing any other.

An entry records the id of the key that made its MAC (atalaia/lib/crypto.py), so it
still verifies after the secret changed, as long as the old secret is among the
fallbacks. MACs are never re-made: the history is evidence. Entries from before key
ids carry none and are checked with every key of the ring.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from atalaia.lib import crypto

GENESIS = "0" * 64


def entry_mac(incident_id: int, seq: int, kind: str, author_id: int | None, author_name: str,
              created_at_iso: str, body: dict, prev_mac: str,
              key: crypto.Key | None = None) -> str:
    """The MAC of an entry's content under KEY (the current key by default)."""
    content = json.dumps([incident_id, seq, kind, author_id, author_name, created_at_iso,
                          body, prev_mac], sort_keys=True, separators=(",", ":"),
                         ensure_ascii=False)
    return crypto.mac("timeline", content.encode(), key)


def mac_of(entry, key: crypto.Key) -> str:
    return entry_mac(entry.incident_id, entry.seq, entry.kind, entry.author_id,
                     entry.author_name, iso(entry.created_at), entry.body, entry.prev_mac, key)


def _check_mac(entry) -> Break | None:
    """Why the entry's MAC does not hold, or None when it does."""
    if entry.mac_key_id:
        key = crypto.key_with_id(entry.mac_key_id)
        if key is None:
            return Break(entry.seq, f"its MAC was made with key {entry.mac_key_id}, which is "
                                    f"neither the secret key nor one of its fallbacks "
                                    f"(SECRET_KEY_FALLBACKS): add that key to check it; "
                                    f"until then it may as well be forged (the key id is "
                                    f"a column anyone who can edit the database can change)",
                         missing_key=entry.mac_key_id)
        if hmac.compare_digest(entry.mac, mac_of(entry, key)):
            return None
        return Break(entry.seq, "content does not match its MAC (edited, or the chain was "
                                "recomputed without the key)")
    if any(hmac.compare_digest(entry.mac, mac_of(entry, key)) for key in crypto.ring()):
        return None
    # Made before key ids: an edit and a secret no longer configured look the same.
    return Break(entry.seq, "content does not match its MAC under any configured key "
                            "(edited, recomputed without the key, or made with a secret "
                            "that is no longer among the fallbacks)")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass
class Break:
    seq: int
    problem: str
    # Set when the entry could not be checked at all: the key that made it is not configured.
    missing_key: str = ""


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
        problem = _check_mac(entry)
        if problem is not None:
            return problem
        expected_prev = entry.mac
        expected_seq += 1
    count = expected_seq - 1
    if count != incident.entry_count:
        return Break(count + 1, f"the incident records {incident.entry_count} entries but "
                                f"{count} are present (newest removed)")
    if expected_prev != (incident.head_mac or GENESIS):
        return Break(count, "the newest entry is not the one the incident records as head")
    return None
