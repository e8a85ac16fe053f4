"""The outbox against a real SMTP server and a real HTTP receiver, with a controlled clock."""

import datetime
import threading

import time_machine

from atalaia.notify.models import Channel, Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue, send_due
from tests.servers import Receiver, free_port

T0 = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def at(seconds: float):
    return time_machine.travel(T0 + datetime.timedelta(seconds=seconds), tick=False)


def email(key="page-1", to="ana@example.test"):
    return enqueue(Channel.EMAIL, to, "Ana", "Checkout is down", "Acknowledge: https://x/ack",
                   idempotency_key=key, purpose="page")


def test_an_email_goes_out_with_our_headers(db, mail):
    with at(0):
        delivery = email()
        assert delivery.target != "ana@example.test"  # encrypted at rest
        assert send_due() == 1
    (message,) = mail.parsed()
    assert message["To"] == "ana@example.test" and message["Subject"] == "Checkout is down"
    assert message["Message-ID"] == "<page-1@localhost>"
    assert message["Auto-Submitted"] == "auto-generated"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    assert send_due() == 0


def test_one_key_is_queued_once(db):
    assert email().pk == email().pk
    assert Delivery.objects.count() == 1


def test_mail_server_down_retries_with_backoff_then_recovers(db, mail, settings):
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there
    with at(0):
        delivery = email()
        send_due()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error.startswith("cannot connect to the mail server")
    wait = (delivery.next_attempt_at - T0).total_seconds()
    assert 10 <= wait <= 11  # the first retry delay, with its jitter
    with at(5):
        assert send_due() == 0  # not due yet
    with at(12):
        send_due()
    delivery.refresh_from_db()
    second_wait = (delivery.next_attempt_at - T0).total_seconds() - 12
    assert delivery.attempts == 2 and 20 <= second_wait <= 22  # doubled
    settings.EMAIL_PORT = working_port
    with at(40):
        send_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("sent", 3)
    assert len(mail.messages) == 1


def test_an_apprise_json_webhook_receives_the_message(db):
    receiver = Receiver()
    try:
        enqueue(Channel.APPRISE, f"json://127.0.0.1:{receiver.port}/hook", "ops channel",
                "Checkout is down", "Since 12:00", idempotency_key="hook-1")
        assert send_due() == 1
    finally:
        receiver.server.shutdown()
    (body,) = receiver.bodies
    assert body["title"] == "Checkout is down" and body["message"] == "Since 12:00"
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_a_url_that_keeps_failing_ends_dead_with_its_error(db, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 3
    with at(0):  # queued on the test's clock, not today's: every attempt is then due
        delivery = enqueue(Channel.APPRISE, f"json://127.0.0.1:{free_port()}/hook?cto=1&rto=1",
                           "ops channel", "s", "b", idempotency_key="hook-2")
    for step in range(3):
        with at(step * 3600):
            send_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("dead", 3)
    assert delivery.last_error
    with at(5 * 3600):
        assert send_due() == 0  # dead stays dead


def test_a_bad_url_is_a_failure_not_a_crash(db, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    delivery = enqueue(Channel.APPRISE, "nonsense://", "x", "s", "b", idempotency_key="bad")
    send_due()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_error) == ("dead", "not a valid Apprise URL")


def test_a_delivery_left_sending_by_a_dead_worker_is_sent_again(db, mail, settings):
    with at(0):
        delivery = email()
    # A worker claimed it at 0 s and died before recording the result.
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENDING,
                                                   sending_since=T0)
    with at(settings.DELIVERY_SENDING_TIMEOUT - 1):
        assert send_due() == 0  # it may still be on its way
    with at(settings.DELIVERY_SENDING_TIMEOUT + 1):
        assert send_due() == 1
    assert len(mail.messages) == 1
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_two_workers_share_the_deliveries_without_sending_one_twice(transactional_db, mail):
    from django.db import connection

    for n in range(300):
        email(key=f"share-{n}", to=f"p{n}@example.test")
    sent: list[int] = []

    def worker() -> None:
        try:
            while (count := send_due(limit=20)):
                sent.append(count)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    recipients = [m["To"] for m in mail.parsed()]
    assert len(recipients) == 300 and len(set(recipients)) == 300
    assert sum(sent) == 300
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_a_page_goes_out_before_a_backlog_of_other_messages(db, mail):
    with at(0):  # the backlog is due on the test's clock, before the page is queued
        for n in range(30):
            enqueue(Channel.EMAIL, f"s{n}@example.test", "subscriber", "Update", "b",
                    idempotency_key=f"update-{n}")
    with at(1):
        page = email("page-late", "oncall@example.test")
        Delivery.objects.filter(pk=page.pk).update(priority=0)
        assert send_due(limit=5) == 5
    page.refresh_from_db()
    assert page.status == DeliveryStatus.SENT  # queued last, sent in the first turn
