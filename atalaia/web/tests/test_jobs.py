"""The worker's jobs: each on its own (a failing one is recorded and shown, the others
go on), and paging in a lane of its own that a slow webhook cannot hold up."""

import socket
import threading
import time

from django.db import connections
from django.test import Client

from atalaia.lib import jobs
from atalaia.notify.mailcatcher import Server
from atalaia.notify.models import Channel, Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue
from atalaia.web.context import forget_health
from atalaia.web.management.commands.worker import work_step, worker_loop
from atalaia.web.models import JobState
from conftest import signed_in


def page_email(key: str, address: str = "oncall@example.test") -> Delivery:
    delivery = enqueue(Channel.EMAIL, address, "on call", "[Atalaia] Payments down", "Ack?",
                       idempotency_key=key, purpose="page")
    Delivery.objects.filter(pk=delivery.pk).update(priority=0)
    return delivery


def test_a_failing_job_is_recorded_and_shown_while_the_others_run(db, personas, mail,
                                                                   monkeypatch):
    first = jobs.registered(jobs.GENERAL)[0]

    def broken() -> int:
        raise RuntimeError("disk full\nsecond line")

    # The first job of the general lane fails on every turn.
    monkeypatch.setitem(jobs._jobs, first.name, jobs.Job(first.name, broken, first.lane))
    enqueue(Channel.EMAIL, "sub@example.test", "subscriber", "Update", "b",
            idempotency_key="update-1", purpose="broadcast")
    page = page_email("page-1")

    work_step()

    # The jobs after it ran: the update and the page went out.
    assert sorted(m["To"] for m in mail.parsed()) == ["oncall@example.test", "sub@example.test"]
    page.refresh_from_db()
    assert page.status == DeliveryStatus.SENT
    state = JobState.objects.get(name=first.name)
    assert (state.failing, state.failures, state.lane) == (1, 1, jobs.GENERAL)
    assert state.last_error == "RuntimeError: disk full"

    health = Client().get("/healthz").json()
    assert health["failing_jobs"] == [first.name] and health["ok"] is False
    metrics = Client().get("/metrics").content.decode()
    assert f'atalaia_job_failures_total{{job="{first.name}",lane="general"}} 1' in metrics
    assert f'atalaia_job_failing{{job="{first.name}",lane="general"}} 1' in metrics
    forget_health()
    console = signed_in(personas["viewer"]).get("/signals/").content.decode()
    assert "job-failing" in console and "RuntimeError: disk full" in console

    monkeypatch.setitem(jobs._jobs, first.name, first)  # fixed
    work_step()
    state.refresh_from_db()
    assert (state.failing, state.failures) == (0, 1) and state.last_ok_at is not None
    assert Client().get("/healthz").json()["failing_jobs"] == []


class Trickle:
    """An HTTP receiver that answers one byte at a time, one every `interval` seconds,
    until it is told to stop: a slow subscriber."""

    def __init__(self, interval: float = 2.0):
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.requested = threading.Event()
        self.stopping = threading.Event()
        self.finished = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _addr = self.listener.accept()
        with conn:
            conn.recv(65536)
            self.requested.set()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            try:
                while not self.stopping.wait(self.interval):
                    conn.sendall(b".")
            except OSError:
                pass  # the worker gave up on us
        self.finished.set()

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()


class Mailbox:
    """A real SMTP server (aiosmtpd) that says when a message arrives."""

    def __init__(self):
        self.arrived = threading.Event()
        self.at: float | None = None
        box = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                box.at = time.monotonic()
                box.arrived.set()
                return "250 OK"

        self.controller = Server(0, Handler())
        self.controller.start()
        self.port = self.controller.port


def test_a_page_goes_out_while_a_slow_webhook_holds_the_general_lane(transactional_db,
                                                                       settings):
    settings.OUTBOUND_DEADLINE_SECONDS = 120.0  # the subscriber may hold a request that long
    settings.WORKER_POLL_SECONDS = 0.05
    mailbox, trickle = Mailbox(), Trickle()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mailbox.port
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    loop = worker_loop()

    def serve() -> None:
        try:
            loop.serve()
        finally:
            connections.close_all()

    worker = threading.Thread(target=serve, name="worker")
    enqueue(Channel.WEBHOOK, f"http://127.0.0.1:{trickle.port}/hook", "slow subscriber",
            "update", '{"incident": 1}', idempotency_key="hook-1", purpose="broadcast")
    worker.start()
    try:
        assert trickle.requested.wait(30), "the general lane never sent the webhook"
        page_email("page-1")
        queued = time.monotonic()
        assert mailbox.arrived.wait(10), "the page waited behind the webhook"
        assert mailbox.at is not None
        print(f"page e-mail arrived {mailbox.at - queued:.3f} s after it was queued")
        assert not trickle.finished.is_set()  # the webhook was still in flight
    finally:
        trickle.stop()
        loop.stop()
        worker.join(60)
        mailbox.controller.stop()
    assert not worker.is_alive()
    assert Delivery.objects.get(idempotency_key="page-1").status == DeliveryStatus.SENT
