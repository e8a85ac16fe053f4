"""The outbox: deliveries queued with the change that causes them, sent by the worker.

`enqueue` writes a Delivery row inside the caller's transaction. `send_due` (a
worker step) claims due deliveries — on PostgreSQL with SELECT … FOR UPDATE
SKIP LOCKED, so several workers share them without sending one twice — marks
them *sending* and commits, sends each outside any transaction (e-mail through
Django's e-mail framework over one SMTP connection per turn, the rest through
Apprise, one recipient each so each result is known), then records the result:
*sent*, or *failed* with the next attempt after an exponential backoff, or
*dead* after DELIVERY_MAX_ATTEMPTS.

At least once: a worker killed after sending but before recording it leaves the
delivery *sending*; after DELIVERY_SENDING_TIMEOUT another worker sends it again.
Only messages in flight at that moment can go out twice, and an e-mail's
Message-ID comes from the idempotency key so a receiver can drop the duplicate.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timedelta

import apprise
import httpx
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from atalaia.lib import jobs, outbound
from atalaia.lib.crypto import decrypt, encrypt
from atalaia.lib.text import one_line
from atalaia.notify.models import Channel, Delivery, DeliveryStatus

log = logging.getLogger("atalaia.deliveries")
BATCH = 100
# Apprise and webhook messages sent at once by one lane of one worker.
OTHER_SENDS_AT_ONCE = 8


def enqueue(channel: str, target: str, recipient: str, subject: str, body: str,
            idempotency_key: str, purpose: str = "", incident=None,
            headers: dict[str, str] | None = None) -> Delivery:
    """Queue one message (inside the caller's transaction). A key queued before is
    not queued again: the delivery already there is returned."""
    existing = Delivery.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    return Delivery.objects.create(**prepare(
        channel, target, recipient, subject, body, idempotency_key, purpose, incident,
        headers))


def prepare(channel: str, target: str, recipient: str, subject: str, body: str,
            idempotency_key: str, purpose: str = "", incident=None,
            headers: dict[str, str] | None = None) -> dict:
    """A delivery's fields, for callers that create many at once (bulk_create)."""
    return {"channel": channel, "target": encrypt(target), "recipient": recipient[:200],
            "subject": subject[:300], "body": body, "purpose": purpose, "incident": incident,
            "idempotency_key": idempotency_key, "next_attempt_at": timezone.now(),
            "headers": headers or {}}


def send_due(now: datetime | None = None, limit: int = BATCH, lane: str | None = None) -> int:
    """Send the deliveries that are due (one worker turn); the number attempted.

    With a `lane`, only that lane's deliveries: the purposes routed to it (`route`),
    or, for a lane with none routed to it, every purpose not routed elsewhere."""
    claimed = _claim(now or timezone.now(), limit, lane)
    if not claimed:
        return 0
    emails = [d for d in claimed if d.channel == Channel.EMAIL]
    others = [d for d in claimed if d.channel != Channel.EMAIL]
    results = {**_send_emails(emails), **_send_others(others)}
    _record_sent([d.pk for d in claimed if not results[d.pk]])
    for delivery in claimed:
        if results[delivery.pk]:
            _record(delivery, results[delivery.pk])
    _tell_results(claimed, results)
    return len(claimed)


# Purpose → who asked for deliveries of that purpose and wants their results (paging
# writes each page notification's result to the timeline): notify knows none of them.
ResultHook = Callable[[list[Delivery], dict[int, str]], None]
_result_hooks: dict[str, list[ResultHook]] = {}


def on_result(purpose: str, hook: ResultHook) -> None:
    """After each turn, `hook(deliveries, errors)` with the turn's deliveries of
    `purpose` (as claimed: `attempts` not yet counting this one) and the error of
    each by id ("" when sent)."""
    hooks = _result_hooks.setdefault(purpose, [])
    if hook not in hooks:
        hooks.append(hook)


def _tell_results(claimed: list[Delivery], results: dict[int, str]) -> None:
    for purpose, hooks in _result_hooks.items():
        mine = [d for d in claimed if d.purpose == purpose]
        for hook in hooks if mine else ():
            try:
                hook(mine, results)
            except Exception:  # noqa: BLE001 - results are recorded; a hook fails on its own
                log.exception("the %s result hook %r failed", purpose, hook)


# Purpose → the worker lane that sends it (atalaia/lib/jobs.py): pages have a lane
# of their own, so that no slow receiver of other messages can hold them up.
_routes: dict[str, str] = {}


def route(purpose: str, lane: str) -> None:
    _routes[purpose] = lane


def _in_lane(lane: str | None) -> Q:
    if lane is None:
        return Q()
    mine = [purpose for purpose, to in _routes.items() if to == lane]
    if mine:
        return Q(purpose__in=mine)
    return ~Q(purpose__in=[purpose for purpose, to in _routes.items() if to != lane])


def _claim(now: datetime, limit: int, lane: str | None = None) -> list[Delivery]:
    stale = now - timedelta(seconds=settings.DELIVERY_SENDING_TIMEOUT)
    due = (Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.FAILED], next_attempt_at__lte=now)
           | Q(status=DeliveryStatus.SENDING, sending_since__lt=stale)) & _in_lane(lane)
    with transaction.atomic():
        claimed = list(Delivery.objects.select_for_update(skip_locked=True).filter(due)
                       .order_by("priority", "next_attempt_at")[:limit])
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
            status=DeliveryStatus.SENDING, sending_since=now)
    return claimed


def _send_emails(deliveries: list[Delivery]) -> dict[int, str]:
    """Send over DELIVERY_SMTP_CONNECTIONS connections at once; {delivery: "" when sent,
    else the error}. Each message waits for the server's answers to MAIL, RCPT and
    DATA; with two connections one is building the next message while the other waits
    (measured: one connection left the worker idle nearly half the time)."""
    if not deliveries:
        return {}
    lanes = max(1, min(settings.DELIVERY_SMTP_CONNECTIONS, len(deliveries) // 10 or 1))
    if lanes == 1:
        return _send_over_one(deliveries)
    results: dict[int, str] = {}
    for part in _pool().map(_send_over_one, [deliveries[i::lanes] for i in range(lanes)]):
        results.update(part)
    return results


# One pool per calling thread (each lane of the worker has its own): a lane's
# e-mails never queue behind another lane's in a shared pool.
_executor = threading.local()


def _pool() -> ThreadPoolExecutor:
    if getattr(_executor, "pool", None) is None:
        _executor.pool = ThreadPoolExecutor(max_workers=settings.DELIVERY_SMTP_CONNECTIONS,
                                            thread_name_prefix="smtp")
    return _executor.pool


def _send_over_one(deliveries: list[Delivery]) -> dict[int, str]:
    """Send over one SMTP connection (no database access: safe in a thread)."""
    results: dict[int, str] = {}
    try:
        connection = get_connection(fail_silently=False)
        connection.open()
    except Exception as exc:  # noqa: BLE001 - any failure to connect fails the whole turn
        return {d.pk: f"cannot connect to the mail server: {_describe(exc)}" for d in deliveries}
    try:
        for delivery in deliveries:
            results[delivery.pk] = _send_email(connection, delivery)
    finally:
        try:
            connection.close()
        except Exception:  # noqa: BLE001 - the messages are already handed over
            log.debug("closing the SMTP connection failed", exc_info=True)
    return results


def _send_email(connection, delivery: Delivery) -> str:
    """The subject and every header are made one line here, whatever text they came
    from (an incident's title, an alert's description): a line break in a header
    makes the mail library refuse the message, so one would stop every page."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "atalaia.invalid"
    headers = {"Message-ID": f"<{delivery.idempotency_key}@{domain}>",
               "Auto-Submitted": "auto-generated", **delivery.headers}
    message = EmailMessage(one_line(delivery.subject), delivery.body,
                           to=[decrypt(delivery.target)], connection=connection,
                           headers={name: one_line(value) for name, value in headers.items()})
    try:
        message.send()
    except Exception as exc:  # noqa: BLE001 - the error is the delivery's result
        return _describe(exc)
    return ""


def _send_others(deliveries: list[Delivery]) -> dict[int, str]:
    """Apprise and webhook deliveries, each receiver's in order (a chat must read the
    closing after the update before it) and different receivers at once, all given
    until the outbound deadline: Apprise's own timeouts bound each read, not the whole
    call, so a receiver that answers slowly must not hold up the lane (pages have one).
    A send still running then counts as failed and is tried again later; its thread
    ends on its own."""
    if not deliveries:
        return {}
    by_receiver: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_receiver.setdefault(_receiver(delivery), []).append(delivery)
    results: dict[int, str] = {}
    pool = _others_pool()
    futures = [pool.submit(_send_in_order, group, results) for group in by_receiver.values()]
    wait(futures, timeout=settings.OUTBOUND_DEADLINE_SECONDS + 1)
    late = f"no answer within {settings.OUTBOUND_DEADLINE_SECONDS:g} s"
    return {d.pk: results.get(d.pk, late) for d in deliveries}


def _receiver(delivery: Delivery) -> str:
    try:
        return decrypt(delivery.target)
    except Exception:  # noqa: BLE001 - sending it will fail and say why
        return f"delivery {delivery.pk}"


def _send_in_order(deliveries: list[Delivery], results: dict[int, str]) -> None:
    for delivery in deliveries:
        results[delivery.pk] = _outcome(delivery)


def _outcome(delivery: Delivery) -> str:
    try:
        return SENDERS[delivery.channel](delivery)
    except Exception as exc:  # noqa: BLE001 - the error is the delivery's result
        return _describe(exc)


def _others_pool() -> ThreadPoolExecutor:
    if getattr(_executor, "others", None) is None:
        _executor.others = ThreadPoolExecutor(max_workers=OTHER_SENDS_AT_ONCE,
                                              thread_name_prefix="send")
    return _executor.others


def _send_apprise(delivery: Delivery) -> str:
    sender = apprise.Apprise()
    if not sender.add(decrypt(delivery.target)):
        return "not a valid Apprise URL"
    try:
        # Apprise's plugins connect on their own: the guard is on their sockets.
        with outbound.guarded_sockets() as guard:
            # A title becomes a subject for some services (mailto://): one line too.
            sent = sender.notify(title=one_line(delivery.subject), body=delivery.body)
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is the delivery's result
        return _describe(exc)
    if sent:
        return ""  # maybe after a refused address, through another of the host's
    if guard.refused:
        return f"refused: {guard.refused[0]}"
    return "the service refused or could not be reached (see the logs)"


def _send_webhook(delivery: Delivery) -> str:
    """A signed webhook: the body is JSON, sent as is, with its headers (the
    signature among them); any 2xx answer is a success."""
    try:
        response = outbound.post(decrypt(delivery.target), delivery.body.encode(),
                                 {"Content-Type": "application/json",
                                  "User-Agent": "Atalaia", **delivery.headers})
    except outbound.OutboundRefused as exc:
        return f"refused: {exc}"
    except httpx.HTTPError as exc:
        return _describe(exc)
    if not 200 <= response.status_code < 300:
        return f"the receiver answered {response.status_code}"
    return ""


SENDERS: dict[str, Callable[[Delivery], str]] = {Channel.APPRISE: _send_apprise,
                                                Channel.WEBHOOK: _send_webhook}


def _record_sent(ids: list[int]) -> None:
    """The sent ones of a turn in one statement (most of them, on a good day)."""
    Delivery.objects.filter(pk__in=ids, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), last_error="", sending_since=None,
        attempts=F("attempts") + 1)


def _record(delivery: Delivery, error: str) -> None:
    """A failure: retried after a backoff, or dead after the last attempt."""
    now = timezone.now()
    attempts = delivery.attempts + 1
    fields: dict[str, object]
    if attempts >= settings.DELIVERY_MAX_ATTEMPTS:
        fields = {"status": DeliveryStatus.DEAD, "last_error": error}
        log.warning("delivery %s is dead after %d attempts: %s", delivery.pk, attempts, error)
    else:
        fields = {"status": DeliveryStatus.FAILED, "last_error": error,
                  "next_attempt_at": now + timedelta(seconds=backoff(attempts))}
    Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
        attempts=attempts, sending_since=None, **fields)


def backoff(attempts: int) -> float:
    """Seconds before the next attempt: doubling from DELIVERY_RETRY_SECONDS up to
    DELIVERY_RETRY_MAX_SECONDS, with jitter (lib/jobs.py)."""
    return jobs.backoff(attempts, settings.DELIVERY_RETRY_SECONDS,
                        settings.DELIVERY_RETRY_MAX_SECONDS)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def retry(deliveries: Iterable[Delivery]) -> int:
    """Queue dead or failed deliveries again, now (a person decided to)."""
    return Delivery.objects.filter(
        pk__in=[d.pk for d in deliveries],
        status__in=[DeliveryStatus.DEAD, DeliveryStatus.FAILED]).update(
        status=DeliveryStatus.QUEUED, next_attempt_at=timezone.now(), attempts=0)
