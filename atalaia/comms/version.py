"""The public status version: one number that goes up with every change the public
can see (an update, a component state, a maintenance, an incident's public status).

Every web process keeps its cached public pages (page, JSON, feeds) tagged with
the version they were built from, and looks at the number at most every
STATUS_VERSION_CHECK_SECONDS: a change made by any process (the worker, the
prober, another web process) shows within that time, whatever the cache backend.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from atalaia.comms.models import StatusVersion

_seen: dict[str, float] = {"version": -1.0, "checked": 0.0}


def bump() -> None:
    """Call inside the transaction of a public change: readers see the new number
    once it commits, together with the change."""
    updated = StatusVersion.objects.filter(pk=1).update(version=F("version") + 1,
                                                        changed_at=timezone.now())
    if not updated:
        with transaction.atomic():
            StatusVersion.objects.get_or_create(pk=1, defaults={"version": 1,
                                                                "changed_at": timezone.now()})


def current(max_age: float | None = None) -> int:
    """The version, read from the database at most every `max_age` seconds per process."""
    max_age = settings.STATUS_VERSION_CHECK_SECONDS if max_age is None else max_age
    now = time.monotonic()
    if now - _seen["checked"] >= max_age:
        row = StatusVersion.objects.filter(pk=1).values_list("version", flat=True).first()
        _seen["version"], _seen["checked"] = float(row or 0), now
    return int(_seen["version"])

