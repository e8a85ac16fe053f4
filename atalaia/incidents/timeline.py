"""Appending to an incident's timeline: the one writer of the hash chain (chain.py).

Apart from actions.py so that the modules actions.py builds on (the verification gate)
can write entries too without importing it.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from atalaia.accounts.models import User
from atalaia.incidents import chain
from atalaia.incidents.models import Incident, TimelineEntry
from atalaia.lib import crypto


def _name(actor: User | None) -> str:
    return actor.username if actor is not None else "system"


def append_entry(incident: Incident, kind: str, actor: User | None, body: dict) -> TimelineEntry:
    """Add one entry to the chain. Takes the incident's row lock so that two
    writers can never both link to the same previous entry."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().only(
            "pk", "head_mac", "entry_count").get(pk=incident.pk)
        now = timezone.now()
        seq = locked.entry_count + 1
        prev = locked.head_mac or chain.GENESIS
        author_id = actor.pk if actor is not None else None
        key = crypto.current()
        mac = chain.entry_mac(incident.pk, seq, kind, author_id, _name(actor), chain.iso(now),
                              body, prev, key)
        entry = TimelineEntry.objects.create(
            incident_id=incident.pk, seq=seq, kind=kind, author_id=author_id,
            author_name=_name(actor), created_at=now, body=body, prev_mac=prev, mac=mac,
            mac_key_id=key.id)
        Incident.objects.filter(pk=incident.pk).update(head_mac=mac, entry_count=seq,
                                                       last_entry_at=now)
        incident.head_mac, incident.entry_count, incident.last_entry_at = mac, seq, now
    return entry
