"""The worker's expansion of broadcasts into deliveries.

Publishing an update writes one broadcast per audience (e-mail subscribers,
webhook subscribers) and per company channel. Here the worker claims a pending
broadcast (SKIP LOCKED on PostgreSQL), renders the message for the next batch of
subscribers in pk order, queues one delivery each (bulk, idempotent by key) and
moves the broadcast's cursor, all in one transaction: a worker that dies mid-way
leaves the cursor at the last batch it committed, and the next one goes on from
there. Deliveries are then sent by the outbox like any other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from atalaia.comms import render, subscriptions
from atalaia.comms.models import Broadcast, BroadcastStatus, Maintenance, Subscriber
from atalaia.incidents.models import Incident
from atalaia.lib import jobs
from atalaia.lib.crypto import decrypt
from atalaia.notify.models import Delivery
from atalaia.notify.outbox import prepare

log = logging.getLogger("atalaia.broadcasts")


def expand_due(batch: int | None = None) -> int:
    """One batch of one pending broadcast; the number of deliveries queued (0: idle).

    A broadcast whose expansion fails is tried again after a backoff, then
    quarantined with its error (atalaia/lib/jobs.py): it never holds up the
    broadcasts behind it."""
    batch = batch or settings.BROADCAST_BATCH
    taken: Broadcast | None = None
    try:
        with transaction.atomic():
            taken = _next_due()
            return 0 if taken is None else _expand(taken, batch)
    except Exception as exc:
        if taken is None:
            raise  # not the broadcast's fault: the job fails, the runner records it
        _failed(taken, exc)
        return 1


def _next_due() -> Broadcast | None:
    retry_due = Q(retry_at__isnull=True) | Q(retry_at__lte=timezone.now())
    return (Broadcast.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(retry_due, status=BroadcastStatus.PENDING)
            .select_related("update__incident__plan_version", "maintenance", "channel")
            .order_by("created_at", "pk").first())


def _expand(broadcast: Broadcast, batch: int) -> int:
    if broadcast.audience == "channel":
        rows = [_channel_delivery(broadcast)] if broadcast.channel else []
        done = True
    else:
        subscribers = list(_audience(broadcast).filter(pk__gt=broadcast.cursor)
                           .order_by("pk")[:batch])
        rows = [_subscriber_delivery(broadcast, s) for s in subscribers]
        done = len(subscribers) < batch
        if subscribers:
            broadcast.cursor = subscribers[-1].pk
    Delivery.objects.bulk_create([Delivery(**row) for row in rows], ignore_conflicts=True)
    broadcast.queued += len(rows)
    if done:
        broadcast.status, broadcast.finished_at = BroadcastStatus.DONE, timezone.now()
    broadcast.attempts, broadcast.retry_at, broadcast.last_error = 0, None, ""
    broadcast.save(update_fields=["cursor", "queued", "status", "finished_at", "attempts",
                                  "retry_at", "last_error"])
    return len(rows) or 1


def _failed(broadcast: Broadcast, exc: Exception) -> None:
    log.warning("expanding broadcast %s failed", broadcast.pk, exc_info=exc)
    attempt = jobs.failed_attempt(broadcast.attempts, exc)
    fields: dict[str, object] = {"attempts": attempt.attempts, "last_error": attempt.error,
                                 "retry_at": attempt.retry_at}
    if attempt.quarantined:
        fields["status"] = BroadcastStatus.QUARANTINED
        log.error("broadcast %s quarantined after %d failed expansions: %s", broadcast.pk,
                  attempt.attempts, attempt.error)
    Broadcast.objects.filter(pk=broadcast.pk, status=BroadcastStatus.PENDING).update(**fields)


def retry(broadcast: Broadcast) -> bool:
    """Expand a quarantined broadcast again, now (a person decided to); False if it
    was not quarantined."""
    return bool(Broadcast.objects.filter(
        pk=broadcast.pk, status=BroadcastStatus.QUARANTINED).update(
        status=BroadcastStatus.PENDING, attempts=0, retry_at=None))


def _audience(broadcast: Broadcast):
    if broadcast.update is not None:
        incident = broadcast.update.incident
        components = list(incident.services.filter(is_component=True))
        return subscriptions.recipients(broadcast.audience, components, incident)
    maintenance: Maintenance = broadcast.maintenance  # type: ignore[assignment]
    return subscriptions.recipients(broadcast.audience, list(maintenance.components.all()), None)


def _key(broadcast: Broadcast, who: str) -> str:
    return f"broadcast-{broadcast.pk}-{who}"


# Mass mail goes after everything else (pages 0, other messages and company channels 1).
SUBSCRIBER_PRIORITY = 2


def _subscriber_delivery(broadcast: Broadcast, subscriber: Subscriber) -> dict:
    return {**_subscriber_fields(broadcast, subscriber), "priority": SUBSCRIBER_PRIORITY}


def _subscriber_fields(broadcast: Broadcast, subscriber: Subscriber) -> dict:
    language = subscriber.language
    incident = broadcast.update.incident if broadcast.update else None
    if subscriber.kind == "webhook":
        body = subscriptions.webhook_body_for(broadcast, subscriber)
        return prepare("webhook", subscriptions.address(subscriber), subscriber.hint,
                       broadcast.event, body, _key(broadcast, f"s{subscriber.pk}"),
                       purpose="broadcast", incident=incident,
                       headers=subscriptions.webhook_headers(subscriber, body.encode()))
    subject, body = _email(broadcast, language, subscriptions.manage_url(subscriber),
                           _feedback_url(broadcast, subscriber))
    return prepare("email", subscriptions.address(subscriber), subscriber.hint, subject, body,
                   _key(broadcast, f"s{subscriber.pk}"), purpose="broadcast", incident=incident,
                   headers=subscriptions.email_headers(subscriber))


# Who gives the closing message its "how did we do?" link: the review registers it
# (review builds on comms, so comms cannot call it by name).
_feedback_links: list[Callable[[Incident, str], str]] = []


def provide_feedback_link(link: Callable[[Incident, str], str]) -> None:
    """`link(incident, recipient)`: the link a recipient of the closing message follows."""
    _feedback_links[:] = [link]


def _feedback_url(broadcast: Broadcast, subscriber: Subscriber) -> str:
    """The closing message asks each recipient, once, how we did."""
    update = broadcast.update
    if update is None or update.status != "resolved" or not _feedback_links:
        return ""
    return _feedback_links[0](update.incident, f"subscriber-{subscriber.pk}")


def _email(broadcast: Broadcast, language: str, manage_url: str,
           feedback_url: str = "") -> tuple[str, str]:
    if broadcast.update is not None:
        return render.email(draft_of(broadcast.update), language, manage_url, feedback_url)
    return render.maintenance_email(broadcast.maintenance, broadcast.event, language, manage_url)


def draft_of(update) -> render.Draft:
    return render.Draft(update.incident, update.status, update.body_en, update.body_pt,
                        update.eta, update.components)


def _channel_delivery(broadcast: Broadcast) -> dict:
    channel = broadcast.channel
    assert channel is not None  # a channel broadcast always has one (expand_due checks)
    language = channel.language
    if broadcast.update is not None:
        title, body = render.channel_text(channel, draft_of(broadcast.update), language)
        incident = broadcast.update.incident
    else:
        title, body = render.maintenance_short(broadcast.maintenance, broadcast.event, language,
                                               channel.max_length)
        incident = None
    return prepare("apprise", decrypt(channel.target), channel.name, title, body,
                   _key(broadcast, f"c{channel.pk}"), purpose="broadcast", incident=incident)
