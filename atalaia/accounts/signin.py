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

A lock anyone can cause would let an attacker keep every responder out during a crisis
by typing wrong passwords under their names. So a browser where the person completed a
sign-in before carries a signed device cookie (OWASP's "device cookies"): from it, the
name's lock and bucket do not apply; its own bucket does, and its failures count
against that device only. Only people who have signed in there can hold that cookie.
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.http import HttpResponse
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

# A device where the person completed a sign-in: its own bucket instead of the name's.
DEVICE_RULES = {
    PASSWORD: limits.Rule("login.device", capacity=LOCK_AFTER + 2, per_seconds=900),
    TWO_FACTOR: limits.Rule("2fa.device", capacity=LOCK_AFTER + 2, per_seconds=900),
}
DEVICE_COOKIE = "atalaia_device"
DEVICE_SALT = "atalaia.accounts.device"
DEVICE_DAYS = 90

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


def trusted_device(request, username: str) -> str | None:
    """The id of this browser's device cookie when it was given to `username`."""
    try:
        value = signing.loads(request.COOKIES.get(DEVICE_COOKIE, ""), salt=DEVICE_SALT,
                              max_age=timedelta(days=DEVICE_DAYS))
    except signing.BadSignature:
        return None
    if not isinstance(value, dict) or value.get("user") != normalised(username):
        return None
    return str(value.get("device", "")) or None


def remember_device(response: HttpResponse, username: str) -> HttpResponse:
    """After a complete sign-in: this browser is the person's from now on."""
    value = signing.dumps({"user": normalised(username), "device": secrets.token_hex(16)},
                          salt=DEVICE_SALT)
    response.set_cookie(DEVICE_COOKIE, value, max_age=DEVICE_DAYS * 86400, httponly=True,
                        secure=settings.SESSION_COOKIE_SECURE, samesite="Lax")
    return response


def check(username: str, request, kind: str) -> Refusal | None:
    """May this attempt be checked at all? A refusal spends nothing more."""
    device = trusted_device(request, username)
    if device is None:
        lock = Lockout.objects.filter(key=lock_key(username)).first()
        now = timezone.now()
        if lock is not None and lock.locked_until and lock.locked_until > now:
            return Refusal((lock.locked_until - now).total_seconds())
    per_account, per_address = RULES[kind]
    own = (DEVICE_RULES[kind], device) if device else (per_account, normalised(username))
    for rule, key in ((per_address, client_address(request.META)), own):
        taken = limits.take(rule, key)
        if not taken:
            return Refusal(taken.retry_after)
    return None


def failed(username: str, request, kind: str) -> None:
    """Count a wrong password or code; the LOCK_AFTER-th locks the name. From a trusted
    device the device's bucket (spent in check) is all that counts."""
    if trusted_device(request, username) is None:
        _count_failure(username, client_address(request.META), kind)


@transaction.atomic
def _count_failure(username: str, address: str, kind: str) -> None:
    now = timezone.now()
    lock = _row_for_update(lock_key(username))
    if lock.user_id is None:
        lock.user = User.objects.filter(username__iexact=normalised(username)).first()
    if lock.last_failure_at is None or now - lock.last_failure_at > MEMORY:
        lock.failures = 0
    lock.failures += 1
    lock.last_failure_at = now
    if lock.failures >= LOCK_AFTER:
        _lock(lock, now, kind, address)
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


def succeeded(username: str, request, kind: str, complete: bool) -> None:
    """A right password or code: that step's slowing is forgotten. Only a `complete`
    sign-in (nothing more to ask) forgets the failures and the earlier locks: a right
    password followed by wrong codes is still counted, or signing in again would
    wipe the count of someone guessing codes with a stolen password."""
    per_account, _per_address = RULES[kind]
    limits.reset(per_account, normalised(username))
    device = trusted_device(request, username)
    if device:
        limits.reset(DEVICE_RULES[kind], device)
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
