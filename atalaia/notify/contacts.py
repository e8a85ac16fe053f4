"""People's contact methods, and the codes that verify them.

A method is usable for paging only once its owner has typed in the code sent
through it: that proves the address or URL reaches them. The code is stored
hashed, is good for CODE_MINUTES and for CODE_ATTEMPTS tries.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import apprise
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from atalaia.accounts import limits, throttle
from atalaia.accounts.actions import audit
from atalaia.accounts.models import User
from atalaia.lib import outbound
from atalaia.lib.crypto import decrypt, encrypt, sha256_hex
from atalaia.notify import outbox
from atalaia.notify.models import Channel, ContactMethod

CODE_MINUTES = 30
CODE_ATTEMPTS = 5
CODES_PER_METHOD = 10  # then the method must be added again
# Per account, across all its methods (the one rate limiter): codes sent (each new
# method and each resend), enough for a person setting up a few methods and not for
# a script aiming codes at other people's addresses; and codes checked, so that
# deleting a method and adding it again gives no fresh guesses.
CODES_SENT = limits.Rule("contact.codes_sent", capacity=10, per_seconds=3600)
CODES_CHECKED = limits.Rule("contact.codes_checked", capacity=10, per_seconds=900)


class ContactError(ValueError):
    """A contact method or a code that cannot be accepted; the message says why."""


class TooMany(ContactError):
    """Too many codes sent or checked by this account for now."""

    def __init__(self, taken: limits.Taken) -> None:
        super().__init__(throttle.wait_text(taken))
        self.taken = taken


def _take(rule: limits.Rule, user: User) -> None:
    taken = limits.take(rule, str(user.pk))
    if not taken:
        raise TooMany(taken)


def check_target(channel: str, target: str) -> str:
    target = target.strip()
    if channel == Channel.EMAIL:
        try:
            validate_email(target)
        except ValidationError:
            raise ContactError(_("target: not an e-mail address")) from None
    elif channel == Channel.APPRISE:
        if not apprise.Apprise().add(target):
            raise ContactError(_("target: not an Apprise URL Atalaia can send to "
                                 "(see https://github.com/caronc/apprise/wiki)"))
        try:
            check_apprise_host(target)
        except outbound.OutboundRefused as exc:
            raise ContactError(_("target: this URL cannot be used: %(why)s")
                               % {"why": exc}) from None
    else:
        raise ContactError(_("channel: e-mail or an Apprise URL"))
    return target


def check_apprise_host(url: str) -> None:
    """Refuse (OutboundRefused) an Apprise URL that names a private host for its
    service: json://, mailto://, a self-hosted chat. Many services' URLs carry a token
    where a host would be (slack://T…/B…/…): a "host" that does not resolve is left to
    the guard at send time, which checks every address actually connected to."""
    if settings.OUTBOUND_ALLOW_PRIVATE:
        return
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None or not plugin.host:
        return
    templates: tuple[str, ...] = tuple(plugin.templates)
    if any("{host}" in template for template in templates):
        outbound.check_host(plugin.host, must_resolve=False)


def hint(channel: str, target: str) -> str:
    """Enough to recognise a method, never its secrets: a@… for e-mail, the scheme
    and host of a URL."""
    if channel == Channel.EMAIL:
        name, _at, domain = target.partition("@")
        return f"{name[:1]}…@{domain}"
    parts = urlsplit(target)
    return f"{parts.scheme}://{(parts.hostname or '')[:60]}…"


@transaction.atomic
def add_method(user: User, channel: str, target: str, label: str) -> ContactMethod:
    target = check_target(channel, target)
    method = ContactMethod.objects.create(
        user=user, channel=channel, label=(label.strip() or hint(channel, target))[:100],
        target=encrypt(target), hint=hint(channel, target))
    audit(user, "contact.add", "contact_method", str(method), {"channel": channel})
    send_code(method, target)
    return method


def add_verified(user: User, channel: str, target: str, label: str) -> ContactMethod:
    """A method taken as verified without a code: for the demo's people, whose
    mail goes to the local mail catcher."""
    target = check_target(channel, target)
    return ContactMethod.objects.create(
        user=user, channel=channel, label=label, target=encrypt(target),
        hint=hint(channel, target), verified_at=timezone.now())


def send_code(method: ContactMethod, target: str | None = None) -> None:
    """A new code, queued through the method itself (in the caller's transaction)."""
    if method.codes_sent >= CODES_PER_METHOD:
        raise ContactError(_("too many codes sent to this method: delete it and add it again"))
    _take(CODES_SENT, method.user)
    code = f"{secrets.randbelow(10**6):06d}"
    method.code_digest, method.code_sent_at = sha256_hex(f"{method.pk}:{code}"), timezone.now()
    method.code_attempts, method.codes_sent = 0, method.codes_sent + 1
    method.save(update_fields=["code_digest", "code_sent_at", "code_attempts", "codes_sent"])
    outbox.enqueue(
        method.channel, target or decrypt(method.target), method.user.get_username(),
        _("Atalaia verification code: %(code)s") % {"code": code},
        _("Your Atalaia verification code is %(code)s. Type it in the console to use "
          "\"%(label)s\" for paging. It expires in %(minutes)d minutes.")
        % {"code": code, "label": method.label, "minutes": CODE_MINUTES},
        idempotency_key=f"verify-{method.pk}-{method.codes_sent}", purpose="verification")


def verify(method: ContactMethod, code: str) -> None:
    """Accept the code or raise ContactError; a wrong try is counted (and kept)."""
    _take(CODES_CHECKED, method.user)
    with transaction.atomic():
        problem = _check_code(ContactMethod.objects.select_for_update().get(pk=method.pk),
                              code)
    if problem:
        raise ContactError(problem)


def _check_code(method: ContactMethod, code: str) -> str:
    if method.verified_at is not None:
        return ""
    if not method.code_digest or method.code_sent_at is None \
            or method.code_attempts >= CODE_ATTEMPTS:
        return _("no code to check: send a new one")
    if timezone.now() - method.code_sent_at > timedelta(minutes=CODE_MINUTES):
        return _("the code has expired: send a new one")
    method.code_attempts += 1
    if not hmac.compare_digest(method.code_digest, sha256_hex(f"{method.pk}:{code.strip()}")):
        method.save(update_fields=["code_attempts"])
        left = CODE_ATTEMPTS - method.code_attempts
        return ngettext("wrong code; %(left)d try left", "wrong code; %(left)d tries left",
                        left) % {"left": left} if left else _("wrong code; send a new one")
    method.verified_at, method.code_digest = timezone.now(), ""
    method.save(update_fields=["verified_at", "code_digest", "code_attempts"])
    audit(method.user, "contact.verify", "contact_method", str(method))
    return ""
