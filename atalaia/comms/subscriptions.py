"""Subscriptions to the public status site (docs/subscriptions.md): sign-up, signed
links, preferences, one-click unsubscribe, who hears about what, what goes with
each message, and CSV import.

E-mail is double opt-in: a sign-up writes an unconfirmed subscriber and queues one
message, the confirmation link; nothing else goes to the address until the button
behind that link is pressed. Confirming replaces any earlier subscription of the
same address with the same scope (all or some components, or one incident).

A webhook is confirmed at once: nobody reads a confirmation link at a URL. What
keeps a sign-up from aiming traffic at someone else is that only public addresses
are accepted (atalaia.lib.outbound, at sign-up and again at every send), the same
sign-up limits as e-mail, a URL already subscribed cannot be subscribed again, and
what is sent is an update the public can read anyway, signed with a secret that
only the person who signed up was shown.

Links carry the subscriber's id and a hash of its secret, signed with the instance
key: rotating the secret kills every link sent before. The confirmation link works
for CONFIRM_DAYS; manage and unsubscribe links have no end.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import BooleanField, Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from atalaia.accounts import limits, throttle
from atalaia.catalog.models import Service
from atalaia.comms import public, statuspage
from atalaia.comms.models import (
    Broadcast,
    ComponentState,
    ComponentStatus,
    Subscriber,
    SubscriberKind,
    Update,
)
from atalaia.incidents.models import Incident
from atalaia.lib import outbound
from atalaia.lib.crypto import decrypt, encrypt, sha256_hex
from atalaia.notify import outbox
from atalaia.notify.models import Channel

LANGUAGES = ("en", "pt-br")
CONFIRM_DAYS = 7
SALTS = {"confirm": "atalaia.subscription.confirm", "manage": "atalaia.subscription.manage",
         "unsubscribe": "atalaia.subscription.unsubscribe"}
EVENTS = {"incident": "incident.update", "component": "component.update"}
MAX_ADDRESS, MAX_URL = 254, 2000
IMPORT_BATCH = 500
Through = Subscriber.components.through


class SubscriptionError(ValueError):
    """A sign-up or a change that cannot be accepted; the message says why."""


class RateLimited(SubscriptionError):
    """Too many sign-ups for one address or from one client address."""

    def __init__(self, message: str, taken: limits.Taken) -> None:
        super().__init__(message)
        self.taken = taken


# -- what a sign-up may say --------------------------------------------------------------

def normalize(kind: str, target: str) -> str:
    """The address as stored and hashed: an e-mail address in lower case; a public
    http(s) URL with its scheme and host in lower case and no fragment."""
    target = (target or "").strip()
    if kind == SubscriberKind.EMAIL:
        try:
            if len(target) > MAX_ADDRESS:
                raise ValidationError("too long")
            validate_email(target)
        except ValidationError:
            raise SubscriptionError(_("That is not an e-mail address.")) from None
        return target.lower()
    if kind == SubscriberKind.WEBHOOK:
        if len(target) > MAX_URL:
            raise SubscriptionError(_("The URL is too long."))
        try:
            parts = urlsplit(outbound.check_url(target))
        except outbound.OutboundRefused as exc:
            raise SubscriptionError(_("This webhook URL cannot be used: %(why)s.")
                                    % {"why": exc}) from None
        return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/",
                           parts.query, ""))
    raise SubscriptionError(_("Choose e-mail or webhook."))


def language_code(value: str, default: str = "") -> str:
    code = (value or "").strip().lower().replace("_", "-") or default
    if code == "pt":
        return "pt-br"
    if code not in LANGUAGES:
        raise SubscriptionError(_("The language is en or pt-br."))
    return code


def find_components(slugs: Iterable[str]) -> list[Service]:
    """The public components named; SubscriptionError names the unknown ones."""
    wanted = {s.strip() for s in slugs if s and s.strip()}
    found = list(Service.objects.filter(is_component=True, slug__in=wanted))
    unknown = sorted(wanted - {s.slug for s in found})
    if unknown:
        raise SubscriptionError(_("There is no component called %(names)s.")
                                % {"names": ", ".join(unknown)})
    return found


def hint(kind: str, address: str) -> str:
    """Enough to recognise a subscriber, never the whole address: a…@domain, or
    the scheme and host of a URL."""
    if kind == SubscriberKind.EMAIL:
        name, _at, domain = address.partition("@")
        return f"{name[:1]}…@{domain}"[:120]
    parts = urlsplit(address)
    return f"{parts.scheme}://{(parts.hostname or '')[:100]}…"


def address(sub: Subscriber) -> str:
    return decrypt(sub.target)


# -- signing up --------------------------------------------------------------------------

def subscribe(kind: str, target: str, language: str, component_slugs: Iterable[str],
              incident: Incident | None = None, client: str | None = None) -> Subscriber:
    """A new subscriber: to one incident, or to some components (none: all). An
    e-mail subscriber gets one message, the confirmation link; a webhook is
    confirmed at once (see the module's docstring). `client`: the address the
    sign-up came from, for its rate limit (none from the CLI or an import)."""
    normalized = normalize(kind, target)
    language = language_code(language)
    chosen = find_components(component_slugs)
    if incident is not None and chosen:
        raise SubscriptionError(_("Follow one incident or choose components, not both."))
    digest = sha256_hex(normalized)
    _check_rate(digest, client)
    with transaction.atomic():
        return _create(kind, normalized, digest, language, chosen, incident)


def _create(kind: str, normalized: str, digest: str, language: str, chosen: list[Service],
            incident: Incident | None) -> Subscriber:
    if kind == SubscriberKind.WEBHOOK and Subscriber.objects.filter(
            kind=kind, digest=digest, unsubscribed_at__isnull=True).exists():
        raise SubscriptionError(_("This URL is already subscribed: change it with the manage "
                                  "link you were given, or unsubscribe it first."))
    sub = Subscriber.objects.create(
        kind=kind, target=encrypt(normalized), hint=hint(kind, normalized), digest=digest,
        language=language, incident=incident, secret=encrypt(secrets.token_hex(32)),
        confirmed_at=timezone.now() if kind == SubscriberKind.WEBHOOK else None)
    sub.components.set(chosen)
    if kind == SubscriberKind.EMAIL:
        _send_confirmation(sub, normalized)
    return sub


def _check_rate(digest: str, client: str | None) -> None:
    """Sign-ups per client address, then per address signed up (the one rate limiter:
    a burst of the setting's number, refilled over an hour). Checked outside the
    sign-up's transaction, so that a refused or failed sign-up still counts."""
    buckets = [(limits.Rule("signup.target", settings.STATUS_SIGNUPS_PER_ADDRESS_HOUR,
                            3600), digest)]
    if client:
        buckets.insert(0, (limits.Rule("signup.client", settings.STATUS_SIGNUPS_PER_IP_HOUR,
                                       3600), client))
    taken = throttle.take_each(*buckets)
    if not taken:
        raise RateLimited(throttle.wait_text(taken), taken)


def scope(sub: Subscriber) -> str:
    """What the subscriber hears about, in the active language."""
    if sub.incident is not None:
        if sub.incident.confidential:
            # Made confidential after they subscribed: the public may no longer see it.
            return _("incident #%(number)s") % {"number": sub.incident.pk}
        return _("incident #%(number)s, %(title)s") % {"number": sub.incident.pk,
                                                       "title": sub.incident.title}
    names = [s.name for s in sub.components.all()]
    return ", ".join(names) if names else _("every component")


def _send_confirmation(sub: Subscriber, to: str) -> None:
    with translation.override(sub.language):
        subject = _("Confirm your subscription to %(name)s status updates") % {
            "name": settings.STATUS_NAME}
        lines = [
            _("Someone, we hope you, asked to receive %(name)s status updates at this "
              "address, about: %(scope)s.") % {"name": settings.STATUS_NAME,
                                               "scope": scope(sub)},
            "",
            _("To confirm, open this link and press the button: %(url)s")
            % {"url": confirm_url(sub)},
            "",
            _("The link works for %(days)d days. If you did not ask for this, ignore this "
              "message: nothing else will be sent to you.") % {"days": CONFIRM_DAYS},
        ]
    outbox.enqueue(Channel.EMAIL, to, sub.hint, subject, "\n".join(lines) + "\n",
                   idempotency_key=f"subscriber-{sub.pk}-confirm", purpose="subscription",
                   headers={"Content-Language": sub.language})


# -- signed links ------------------------------------------------------------------------

def _tag(sub: Subscriber) -> str:
    return sha256_hex("links:" + decrypt(sub.secret))[:16]


def token(sub: Subscriber, purpose: str) -> str:
    return signing.dumps({"s": sub.pk, "h": _tag(sub)}, salt=SALTS[purpose], compress=True)


def _site(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def confirm_url(sub: Subscriber) -> str:
    return _site(reverse("status_subscribe_confirm", args=[token(sub, "confirm")]))


def manage_url(sub: Subscriber) -> str:
    return _site(reverse("status_subscription", args=[token(sub, "manage")]))


def unsubscribe_url(sub: Subscriber) -> str:
    """The one-click link (RFC 8058): a POST unsubscribes, a GET shows a button."""
    return _site(reverse("status_unsubscribe", args=[token(sub, "unsubscribe")]))


def from_token(value: str, purpose: str) -> Subscriber:
    """The subscriber a link is for; SubscriptionError when it is forged, expired,
    or older than the subscriber's secret."""
    max_age = CONFIRM_DAYS * 86400 if purpose == "confirm" else None
    try:
        data = signing.loads(value, salt=SALTS[purpose], max_age=max_age)
    except signing.SignatureExpired:
        raise SubscriptionError(_("This confirmation link has expired: subscribe again.")) \
            from None
    except signing.BadSignature:
        raise SubscriptionError(_("This link is not valid.")) from None
    sub = (Subscriber.objects.filter(pk=data.get("s")).select_related("incident")
           .prefetch_related("components").first())
    if sub is None or not hmac.compare_digest(_tag(sub), str(data.get("h", ""))):
        raise SubscriptionError(_("This link is no longer valid."))
    return sub


# -- changes -----------------------------------------------------------------------------

@transaction.atomic
def confirm(sub: Subscriber) -> bool:
    """Confirm once (False when it already was, or has ended). An earlier
    subscription of the address with the same scope ends: the new one replaces it."""
    sub = Subscriber.objects.select_for_update().get(pk=sub.pk)
    if sub.confirmed_at is not None or sub.unsubscribed_at is not None:
        return False
    now = timezone.now()
    same_scope = Q(incident__isnull=True) if sub.incident_id is None else Q(
        incident=sub.incident_id)
    Subscriber.objects.filter(same_scope, kind=sub.kind, digest=sub.digest,
                              confirmed_at__isnull=False, unsubscribed_at__isnull=True
                              ).update(unsubscribed_at=now)
    sub.confirmed_at = now
    sub.save(update_fields=["confirmed_at"])
    return True


@transaction.atomic
def update_preferences(sub: Subscriber, component_slugs: Iterable[str], language: str) -> None:
    """New components (none: all) and language. A subscription to one incident
    keeps its incident: only its language changes."""
    if sub.unsubscribed_at is not None:
        raise SubscriptionError(_("This subscription has ended: subscribe again."))
    language = language_code(language)
    chosen = find_components(component_slugs)
    if sub.incident_id and chosen:
        raise SubscriptionError(_("This subscription follows one incident: it has no "
                                  "components to choose."))
    sub.language = language
    sub.save(update_fields=["language"])
    if not sub.incident_id:
        sub.components.set(chosen)


@transaction.atomic
def unsubscribe(sub: Subscriber) -> bool:
    """End the subscription (False when it already had). Messages already queued
    may still go out; nothing new is queued for it."""
    changed = Subscriber.objects.filter(pk=sub.pk, unsubscribed_at__isnull=True).update(
        unsubscribed_at=timezone.now())
    sub.refresh_from_db(fields=["unsubscribed_at"])
    return bool(changed)


@transaction.atomic
def rotate_secret(sub: Subscriber) -> str:
    """A new secret (returned, to be shown once): webhooks are signed with it from
    now on and every link sent before stops working."""
    secret = secrets.token_hex(32)
    sub.secret = encrypt(secret)
    sub.save(update_fields=["secret"])
    return secret


# -- who hears about what ----------------------------------------------------------------

def recipients(audience: str, components: Iterable[Service],
               incident: Incident | None) -> QuerySet[Subscriber]:
    """Confirmed, current subscribers of one kind who hear about every component,
    or about one of `components`, or about `incident`; in pk order.

    The match is one CASE over correlated EXISTS: each subscriber comes once, and
    no index but the primary key's fits it, so `.filter(pk__gt=cursor)[:batch]`
    walks the primary key and stops after `batch` rows (an OR of indexed terms
    would collect and sort every match for every batch)."""
    chosen = Through.objects.filter(subscriber_id=OuterRef("pk"))
    wide = Q(~Exists(chosen))
    ids = [s.pk for s in components]
    if ids:
        wide |= Q(Exists(chosen.filter(service_id__in=ids)))
    cases = [When(Q(wide, incident__isnull=True), then=Value(True))]
    if incident is not None:
        cases.append(When(incident=incident, then=Value(True)))
    hit = Case(*cases, default=Value(False), output_field=BooleanField())
    return (Subscriber.objects.alias(hit=hit)
            .filter(hit=True, kind=audience, confirmed_at__isnull=False,
                    unsubscribed_at__isnull=True).order_by("pk"))


# -- what goes with each message ---------------------------------------------------------

def email_headers(sub: Subscriber) -> dict[str, str]:
    """List-Unsubscribe with the one-click URL (RFC 2369, RFC 8058)."""
    return {"List-Unsubscribe": f"<{unsubscribe_url(sub)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                    hashlib.sha256).hexdigest()


def webhook_headers(sub: Subscriber, body: bytes, event: str = "") -> dict[str, str]:
    """X-Atalaia-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed
    with the subscriber's secret>; X-Atalaia-Event names what the body is about
    (read from the body unless given). t is when the message was written: a retry
    carries the same t and body."""
    stamp = int(timezone.now().timestamp())
    return {"X-Atalaia-Signature": f"t={stamp},v1={signature(decrypt(sub.secret), stamp, body)}",
            "X-Atalaia-Event": event or _event_of(body)}


def _event_of(body: bytes) -> str:
    try:
        keys = json.loads(body)
    except ValueError:
        return "unknown"
    return EVENTS["component"] if "component_update" in keys else EVENTS["incident"]


def page_block() -> dict:
    """The "page" of a subscriber webhook: the page's id and its indicator now."""
    value = public.indicator(public.incidents(resolved=False), public.components())
    return {"id": statuspage.page_id(), "status_indicator": value,
            "status_description": public.describe(value)}


def _components_by_service() -> dict[int, dict]:
    items = public.components()
    listed = {c["id"]: c for c in statuspage.component_list(items, public.changed_at())
              if not c["group"]}
    return {item.service.pk: listed[item.service.slug] for item in items}


def incident_payload(update: Update, language: str) -> dict:
    """The incident part of a Statuspage subscriber webhook, as the public API
    shows the incident (every update, newest first), in `language`."""
    return {"page": page_block(),
            "incident": statuspage.incident(update.incident, statuspage.language(language),
                                            _components_by_service())}


def maintenance_payload(maintenance, language: str) -> dict:
    """Statuspage sends scheduled maintenance as an incident with its window."""
    return {"page": page_block(),
            "incident": statuspage.maintenance(maintenance, statuspage.language(language),
                                               _components_by_service())}


def component_payload(state: ComponentState) -> dict:
    """The component part of a Statuspage subscriber webhook for one state change."""
    service = state.service
    old = (ComponentState.objects.filter(service=service, started_at__lt=state.started_at)
           .order_by("-started_at", "-pk").values_list("status", flat=True).first())
    group = statuspage.group_id(service.component_group) if service.component_group else None
    return {"page": page_block(),
            "component_update": {
                "id": str(state.pk), "component_id": service.slug, "component_type": "Component",
                "old_status": old or ComponentStatus.OPERATIONAL, "new_status": state.status,
                "created_at": statuspage.iso(state.started_at)},
            "component": {
                "id": service.slug, "page_id": statuspage.page_id(), "name": service.name,
                "status": state.status, "description": service.description or None,
                "group_id": group, "updated_at": statuspage.iso(state.started_at)}}


def webhook_body(kind: str, payload: dict, sub: Subscriber) -> str:
    """The JSON body for one subscriber: Statuspage's subscriber webhook, whose
    "meta" carries this subscriber's unsubscribe link. `kind` is "incident"
    (payload from incident_payload or maintenance_payload) or "component"
    (from component_payload)."""
    expected = "incident" if kind == "incident" else "component_update"
    if kind not in EVENTS or expected not in payload:
        raise ValueError(f"a {kind!r} webhook needs a payload with {expected!r}")
    meta = {"unsubscribe": unsubscribe_url(sub),
            "documentation": _site(reverse("status_subscribe")) + "#webhooks",
            "generated_at": statuspage.iso(timezone.now())}
    return json.dumps({"meta": meta, **payload}, ensure_ascii=False, separators=(",", ":"))


def webhook_body_for(broadcast: Broadcast, sub: Subscriber) -> str:
    """The body of one broadcast for one webhook subscriber. The payload is built
    once per broadcast object and language (a batch), not once per subscriber."""
    cache = broadcast.__dict__.setdefault("_webhook_payloads", {})
    language = sub.language if sub.language in LANGUAGES else "en"
    if language not in cache:
        cache[language] = (incident_payload(broadcast.update, language)
                           if broadcast.update is not None
                           else maintenance_payload(broadcast.maintenance, language))
    return webhook_body("incident", cache[language], sub)


# -- CSV import --------------------------------------------------------------------------

@dataclass
class ImportResult:
    created: int = 0
    skipped: int = 0  # subscribed already, unsubscribed before, or twice in the file
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, problem)


@dataclass
class _Row:
    line: int
    address: str
    language: str
    services: list[Service]


def import_csv(file: IO[str], default_language: str,
               progress: Callable[[int], None] | None = None,
               batch: int = IMPORT_BATCH) -> ImportResult:
    """E-mail subscribers from CSV lines `email[,language][,slug;slug…]` (a first
    line starting with "email" is a header). They opted in elsewhere, so they are
    confirmed now and sent nothing. Addresses subscribed already, or that
    unsubscribed before, are skipped; bad lines are reported by number. One
    transaction per batch; `progress` gets the last line read after each."""
    default_language = language_code(default_language)
    catalog = {s.slug: s for s in Service.objects.filter(is_component=True)}
    result, rows = ImportResult(), []
    reader = csv.reader(file)
    try:
        for cells in reader:
            row = _parse(cells, reader.line_num, default_language, catalog, result)
            if row is not None:
                rows.append(row)
            if len(rows) >= batch:
                _import_batch(rows, result)
                rows = []
                if progress:
                    progress(reader.line_num)
    except csv.Error as exc:
        result.errors.append((reader.line_num, _("unreadable CSV, stopped here: %(why)s")
                              % {"why": exc}))
    _import_batch(rows, result)
    if progress:
        progress(reader.line_num)
    return result


def _parse(cells: list[str], line: int, default_language: str, catalog: dict[str, Service],
           result: ImportResult) -> _Row | None:
    if not any(c.strip() for c in cells):
        return None
    if line == 1 and cells[0].strip().lower() in ("email", "e-mail"):
        return None
    try:
        if len(cells) > 3:
            raise SubscriptionError(_("more than three columns"))
        email = normalize(SubscriberKind.EMAIL, cells[0])
        language = language_code(cells[1] if len(cells) > 1 else "", default_language)
        slugs = [s.strip() for s in (cells[2] if len(cells) > 2 else "").split(";")
                 if s.strip()]
        unknown = [s for s in slugs if s not in catalog]
        if unknown:
            raise SubscriptionError(_("There is no component called %(names)s.")
                                    % {"names": ", ".join(unknown)})
    except SubscriptionError as exc:
        result.errors.append((line, str(exc)))
        return None
    return _Row(line, email, language, [catalog[s] for s in dict.fromkeys(slugs)])


def _import_batch(rows: list[_Row], result: ImportResult) -> None:
    if not rows:
        return
    with transaction.atomic():
        digests = {sha256_hex(r.address) for r in rows}
        taken = set(Subscriber.objects.filter(kind=SubscriberKind.EMAIL, digest__in=digests)
                    .filter(Q(confirmed_at__isnull=False) | Q(unsubscribed_at__isnull=False))
                    .values_list("digest", flat=True))
        now, fresh = timezone.now(), []
        for row in rows:
            digest = sha256_hex(row.address)
            if digest in taken:
                result.skipped += 1
                continue
            taken.add(digest)
            fresh.append((row, Subscriber(
                kind=SubscriberKind.EMAIL, target=encrypt(row.address),
                hint=hint(SubscriberKind.EMAIL, row.address), digest=digest,
                language=row.language, secret=encrypt(secrets.token_hex(32)),
                confirmed_at=now, imported=True)))
        Subscriber.objects.bulk_create([sub for _row, sub in fresh])
        Through.objects.bulk_create([Through(subscriber_id=sub.pk, service_id=service.pk)
                                     for row, sub in fresh for service in row.services])
        result.created += len(fresh)
