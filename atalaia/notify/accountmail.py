"""Mail to a person about their own account: a sign-in locked after failed attempts.

accounts cannot send mail (notify is above it), so it announces the lock
(accounts.signin.locked) and this module queues the message in the outbox, in the
transaction that locks, so the lock and its mail commit together.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaia.accounts import signin
from atalaia.accounts.models import User
from atalaia.lib.crypto import decrypt
from atalaia.notify import outbox
from atalaia.notify.models import Channel, ContactMethod

PURPOSE = "account"


def addresses_of(user: User) -> list[str]:
    """The account's e-mail and the person's verified e-mail contact methods, once each."""
    found = [user.email] if user.email else []
    for method in ContactMethod.objects.filter(user=user, channel=Channel.EMAIL,
                                               verified_at__isnull=False):
        found.append(decrypt(method.target))
    unique: dict[str, str] = {}
    for address in found:
        unique.setdefault(address.strip().lower(), address.strip())
    return list(unique.values())


def on_locked(sender, *, user: User, until: datetime, reason: str, address: str,
              **kwargs) -> None:
    with translation.override(user.language or settings.LANGUAGE_CODE):
        subject, body = _lock_text(user, until, reason, address)
    stamp = int(until.timestamp())
    for n, to in enumerate(addresses_of(user)):
        outbox.enqueue(Channel.EMAIL, to, user.get_username(), subject, body,
                       idempotency_key=f"lockout-{user.pk}-{stamp}-{n}", purpose=PURPOSE)


def _lock_text(user: User, until: datetime, reason: str, address: str) -> tuple[str, str]:
    what = (_("wrong two-factor codes, after the right password")
            if reason == signin.TWO_FACTOR else _("wrong passwords"))
    local = timezone.localtime(until).strftime("%Y-%m-%d %H:%M %Z")
    subject = _("%(site)s: sign-in to your account is locked") % {"site": settings.SITE_NAME}
    body = _(
        "Someone tried to sign in to your %(site)s account %(name)s too many times with "
        "%(what)s, from the address %(address)s. Signing in is locked until %(until)s.\n\n"
        "If it was you, wait until then, or ask an admin to unlock your account.\n"
        "If it was not you, someone is guessing: tell an admin.") % {
        "site": settings.SITE_NAME, "name": user.get_username(), "what": what,
        "address": address or "?", "until": local}
    if reason == signin.TWO_FACTOR:
        body += "\n" + _("Whoever it was knows your password: ask an admin to reset it.")
    return subject, body + "\n"


def register() -> None:
    signin.locked.connect(on_locked, dispatch_uid="atalaia.notify.accountmail")
