"""The stored secrets and the key ring: which key encrypted what, and moving every
secret to the current key (`atalaia keys status`, `atalaia keys rotate`).

Every column of class EncryptedTextField, in every app, is a stored secret: a new
encrypted column is found without being listed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.db import models, transaction
from django.db.models.functions import Substr

from atalaia.lib import crypto

# Rows re-encrypted per transaction: a crash loses at most one batch, which the next
# run does again; writers wait on at most one batch.
BATCH = 500
# What a ciphertext made before key ids is counted under.
BEFORE_KEY_IDS = "(before key ids)"


@dataclass(frozen=True)
class Column:
    model: type[models.Model]
    name: str

    def __str__(self) -> str:
        return f"{self.model._meta.label}.{self.name}"

    def filled(self) -> models.QuerySet:
        return self.model._base_manager.exclude(**{self.name: ""})


def columns() -> list[Column]:
    return [Column(model, f.name) for model in apps.get_models()
            for f in model._meta.get_fields() if isinstance(f, crypto.EncryptedTextField)]


def census() -> dict[str, Counter]:
    """Per column, how many secrets each key id encrypted (counted by the database)."""
    width = len(crypto.current().id) + len(crypto.SEPARATOR)
    result: dict[str, Counter] = {}
    for column in columns():
        counts: Counter = Counter()
        rows = (column.filled().annotate(prefix=Substr(column.name, 1, width))
                .values("prefix").annotate(n=models.Count("pk")).order_by())
        for row in rows:
            key_id = crypto.key_id_of(row["prefix"])
            counts[key_id or BEFORE_KEY_IDS] += row["n"]
        result[str(column)] = counts
    return result


@dataclass
class Rotation:
    moved: int = 0
    # Secrets no key of the ring opens, per column: left as they are.
    unreadable: Counter = field(default_factory=Counter)


def rotate(progress: Callable[[str, int], None] | None = None) -> Rotation:
    """Re-encrypt every stored secret not under the current key. Idempotent: a secret
    already under the current key is not touched, so a run after a crash goes on
    where the last one stopped."""
    outcome = Rotation()
    for column in columns():
        after = None
        while (after := _rotate_batch(column, after, outcome)) is not None:
            if progress:
                progress(str(column), outcome.moved)
    return outcome


def _rotate_batch(column: Column, after, outcome: Rotation):
    """Re-encrypt the next batch of the column's stale rows (those with a primary key
    above AFTER); the last primary key of the batch, or None when none was left."""
    stale = column.filled().exclude(
        **{f"{column.name}__startswith": crypto.current().id + crypto.SEPARATOR})
    if after is not None:
        stale = stale.filter(pk__gt=after)
    with transaction.atomic():
        # Locked until the batch commits: a secret changed meanwhile is not overwritten.
        rows = list(stale.select_for_update().only("pk", column.name).order_by("pk")[:BATCH])
        changed = []
        for row in rows:
            try:
                setattr(row, column.name, crypto.reencrypt(getattr(row, column.name)))
            except crypto.CannotDecrypt:
                outcome.unreadable[str(column)] += 1
                continue
            changed.append(row)
        column.model._base_manager.bulk_update(changed, [column.name])
    outcome.moved += len(changed)
    return rows[-1].pk if rows else None


@checks.register(checks.Tags.security)
def key_beside_the_data(app_configs, **kwargs) -> list[checks.CheckMessage]:
    path: Path | None = settings.SECRET_KEY_PATH
    if path is None or not path.is_relative_to(settings.DATA_DIR):
        return []
    return [checks.Warning(
        f"The secret key is read from {path}, inside the data folder: a copy of that "
        f"folder carries the key with the database.",
        hint=f"Move it to {settings.CONFIG_DIR / path.name} (or set ATALAIA_SECRET_KEY_FILE); "
             f"see docs/configuration.md.",
        id="atalaia.keys.W001")]
