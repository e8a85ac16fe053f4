"""Guessing stopped at sign-in: passwords and second factors back off, then lock.

- The lockout counts failures under a name: after LOCK_AFTER of them since the last
  complete sign-in, the name is locked for LOCK_FIRST, twice as long at each new lock
  within a day, up to LOCK_LONGEST. During a lock nothing is checked, so the right
  password is refused like any other. The person is told by e-mail (`locked`, a
  signal the outbox's side listens to); an admin can unlock from the console or CLI.
- The rate limiter (accounts/limits.py) holds per client address, so one address
  cannot try a few passwords on each of many accounts, and per name as well: the
  lock is read before the password is checked, so requests sent all at once could
  all pass it; the bucket's atomic take caps such a burst near LOCK_AFTER.

Unknown names are counted and locked the same way and get the same answers, so the
replies never say whether an account exists.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import ngettext

from atalaia.accounts import limits
from atalaia.accounts.actions import audit
from atalaia.accounts.models import Lockout, User
from atalaia.lib.clientaddress import client_address
from atalaia.lib.crypto import sha256_hex

PASSWORD = "password"
TWO_FACTOR = "two-factor"

LOCK_AFTER = 10
LOCK_FIRST = timedelta(minutes=15)
LOCK_LONGEST = timedelta(hours=24)
# Failures and locks older than this are forgiven: a typo last week counts for nothing.
MEMORY = timedelta(days=1)

# Per name a little more than the lock allows, so that one-at-a-time guessing meets
# the lock (and its e-mail) first; per address enough for an office behind one NAT
# signing in at nine o'clock.
RULES = {
    PASSWORD: (limits.Rule("login.account", capacity=LOCK_AFTER + 2, per_seconds=900),
               limits.Rule("login.address", capacity=60, per_seconds=600)),
    TWO_FACTOR: (limits.Rule("2fa.account", capacity=LOCK_AFTER + 2, per_seconds=900),
                 limits.Rule("2fa.address", capacity=60, per_seconds=600)),
}

# Sent inside the transaction that locks a real account: user, until, reason, address.
locked = Signal()


@dataclass(frozen=True)
class Refusal:
    retry_after: float  # seconds

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))

    @property
    def message(self) -> str:
        return ngettext("Too many attempts. Try again in %(minutes)d minute.",
                        "Too many attempts. Try again in %(minutes)d minutes.",
                        self.minutes) % {"minutes": self.minutes}


def normalised(username: str) -> str:
    return unicodedata.normalize("NFKC", username).strip().casefold()


def lock_key(username: str) -> str:
    return sha256_hex("lockout\0" + normalised(username))


def check(username: str, meta, kind: str) -> Refusal | None:
    """May this attempt be checked at all? A refusal spends nothing more."""
    lock = Lockout.objects.filter(key=lock_key(username)).first()
    now = timezone.now()
    if lock is not None and lock.locked_until and lock.locked_until > now:
        return Refusal((lock.locked_until - now).total_seconds())
    per_account, per_address = RULES[kind]
    for rule, key in ((per_address, client_address(meta)), (per_account, normalised(username))):
        taken = limits.take(rule, key)
        if not taken:
            return Refusal(taken.retry_after)
    return None


@transaction.atomic
def failed(username: str, meta, kind: str) -> None:
    """Count a wrong password or code; the LOCK_AFTER-th locks the name."""
    now = timezone.now()
    lock = _row_for_update(lock_key(username))
    if lock.user_id is None:
        lock.user = User.objects.filter(username__iexact=normalised(username)).first()
    if lock.last_failure_at is None or now - lock.last_failure_at > MEMORY:
        lock.failures = 0
    lock.failures += 1
    lock.last_failure_at = now
    if lock.failures >= LOCK_AFTER:
        _lock(lock, now, kind, client_address(meta))
    lock.save()


def _row_for_update(key: str) -> Lockout:
    """The name's row, locked until the transaction ends. Another request may create
    it or (a complete sign-in) delete it between our look and our write: look again."""
    for _attempt in range(5):
        row = Lockout.objects.select_for_update().filter(key=key).first()
        if row is not None:
            return row
        try:
            with transaction.atomic():
                return Lockout.objects.create(key=key)
        except IntegrityError:
            continue
    raise RuntimeError("the lockout row kept changing under us")


def _lock(lock: Lockout, now: datetime, kind: str, address: str) -> None:
    if lock.locked_until is None or now - lock.locked_until > MEMORY:
        lock.lockouts = 0
    duration = min(LOCK_FIRST * 2 ** min(lock.lockouts, 16), LOCK_LONGEST)
    lock.lockouts += 1
    lock.failures = 0
    lock.locked_until = now + duration
    lock.reason = kind
    if lock.user is not None:
        audit(None, "user.lock", "user", lock.user.username,
              {"reason": kind, "minutes": int(duration.total_seconds() // 60),
               "address": address})
        locked.send(sender=Lockout, user=lock.user, until=lock.locked_until, reason=kind,
                    address=address)


def succeeded(username: str, kind: str, complete: bool) -> None:
    """A right password or code: that step's slowing is forgotten. Only a `complete`
    sign-in (nothing more to ask) forgets the failures and the earlier locks: a right
    password followed by wrong codes is still counted, or signing in again would
    wipe the count of someone guessing codes with a stolen password."""
    per_account, _per_address = RULES[kind]
    limits.reset(per_account, normalised(username))
    if complete:
        for rule, _per_address in RULES.values():
            limits.reset(rule, normalised(username))
        Lockout.objects.filter(key=lock_key(username)).delete()


def locked_users() -> list[Lockout]:
    """Real accounts locked now, the soonest free first (the console's list)."""
    return list(Lockout.objects.filter(user__isnull=False, locked_until__gt=timezone.now())
                .select_related("user").order_by("locked_until"))


def lock_of(user: User) -> Lockout | None:
    lock = Lockout.objects.filter(key=lock_key(user.username)).first()
    if lock is not None and lock.locked_until and lock.locked_until > timezone.now():
        return lock
    return None


@transaction.atomic
def unlock(user: User, actor: User | None) -> bool:
    """End the person's lock (an admin who knows it was them); False if none."""
    lock = lock_of(user)
    Lockout.objects.filter(key=lock_key(user.username)).delete()
    for rule, _per_address in RULES.values():
        limits.reset(rule, normalised(user.username))
    if lock is None:
        return False
    audit(actor, "user.unlock", "user", user.username, {"reason": lock.reason})
    return True


def prune() -> int:
    """Forget names with neither recent failures nor a recent lock (a worker job)."""
    gone = timezone.now() - MEMORY
    deleted, _ = (Lockout.objects.filter(last_failure_at__lt=gone)
                  .exclude(locked_until__gte=gone).delete())
    return deleted
