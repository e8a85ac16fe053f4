"""One update to every channel: e-mail subscribers through a real SMTP server, a signed
webhook subscriber, and local servers speaking Mastodon's and ntfy's wire formats
through Apprise; the short forms keep each network's limit."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from atalaia.catalog.models import Service
from atalaia.comms import actions, broadcasts, render, subscriptions
from atalaia.comms.models import Broadcast, BroadcastStatus, CompanyChannel, Subscriber
from atalaia.incidents.actions import declare_incident
from atalaia.lib.crypto import encrypt
from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.notify.outbox import send_due
from tests.servers import Receiver


class Service_:
    """A local HTTP server that answers every request with a small JSON object and
    keeps (method, path, body, headers): enough of Mastodon's and ntfy's APIs."""

    def __init__(self):
        self.requests: list[tuple[str, str, bytes, dict]] = []
        keeper = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                keeper.requests.append((self.command, self.path, self.rfile.read(length),
                                        dict(self.headers)))
                payload = json.dumps({"id": "1", "acct": "atalaia", "username": "atalaia",
                                      "url": "http://x/1"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()


def subscriber(kind: str, address: str, language: str = "en", components=()) -> Subscriber:
    sub = Subscriber.objects.create(
        kind=kind, target=encrypt(address), hint=address[:40], language=language,
        digest=hashlib.sha256(address.encode()).hexdigest(), secret=encrypt("s3cret-" + address),
        confirmed_at=timezone.now())
    sub.components.set(Service.objects.filter(slug__in=components))
    return sub


def drain() -> None:
    while broadcasts.expand_due(batch=2) or send_due():
        pass


@pytest.fixture
def channels():
    mastodon, ntfy = Service_(), Service_()
    CompanyChannel.objects.create(name="Mastodon", kind="social", max_length=500,
                                  target=encrypt(f"mastodon://token@127.0.0.1:{mastodon.port}"),
                                  hint="mastodon", language="pt-br")
    CompanyChannel.objects.create(name="App", kind="push",
                                  target=encrypt(f"ntfy://127.0.0.1:{ntfy.port}/status"),
                                  hint="ntfy", language="en")
    yield mastodon, ntfy
    mastodon.stop()
    ntfy.stop()


def test_one_update_reaches_every_channel(demo, personas, mail, channels):
    mastodon, ntfy = channels
    receiver = Receiver()
    hook = subscriber("webhook", f"http://127.0.0.1:{receiver.port}/hook")
    subscriber("email", "ana@example.test", "pt-br")
    subscriber("email", "bob@example.test", "en", components=["payments"])
    subscriber("email", "other@example.test", "en", components=["seller-portal"])
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    long_text = "Card payments fail for many customers in Brazil and Portugal. " * 20
    try:
        actions.publish_update(incident, personas["communicator"], "identified", long_text,
                               "Pagamentos falham. " * 60,
                               components={"payments": "major_outage"})
        drain()
    finally:
        receiver.server.shutdown()

    assert not Delivery.objects.exclude(status=DeliveryStatus.SENT).exclude(
        purpose="page").exists()
    received = {m["To"]: m for m in mail.parsed()}
    assert "other@example.test" not in received  # subscribed to another component only
    pt = received["ana@example.test"]
    assert pt["Subject"] == f"[{render.status_label('identified', 'pt-br')}] Payments failing"
    assert received["bob@example.test"]["Subject"] == "[Identified] Payments failing"
    assert pt["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"/status/incidents/{incident.pk}" in pt.get_payload(decode=True).decode()

    (body,) = receiver.bodies
    assert body["incident"]["name"] == "Payments failing" and "meta" in body
    stamp, mac = (part.split("=", 1)[1]
                  for part in receiver.headers[0]["X-Atalaia-Signature"].split(","))
    expected = hmac.new(b"s3cret-" + subscriptions.address(hook).encode(),
                        stamp.encode() + b"." + receiver.raw[0], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)  # what a receiver does to trust the body

    toots = [r for r in mastodon.requests if r[1] == "/api/v1/statuses"]
    assert len(toots) == 1
    status = json.loads(toots[0][2])["status"]
    assert len(status) <= 500 and status.endswith(render.short_url(incident))
    assert status.startswith(render.status_label("identified", "pt-br") + ": Pagamentos")
    pushes = [r for r in ntfy.requests if r[0] == "POST"]
    assert len(pushes) == 1 and b"Payments failing" in pushes[0][2]


def test_the_expansion_resumes_from_its_cursor(demo, personas):
    for n in range(5):
        subscriber("email", f"s{n}@example.test")
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    update = actions.publish_update(incident, personas["communicator"], "investigating", "a",
                                    "b")
    email = Broadcast.objects.get(update=update, audience="email")
    broadcasts.expand_due(batch=2)
    email.refresh_from_db()
    first = email.cursor
    assert email.queued == 2 and email.status == BroadcastStatus.PENDING
    while broadcasts.expand_due(batch=2):
        pass
    email.refresh_from_db()
    assert email.status == BroadcastStatus.DONE and email.queued == 5 and email.cursor > first
    keys = list(Delivery.objects.filter(purpose="broadcast").values_list("idempotency_key",
                                                                         flat=True))
    assert len(keys) == len(set(keys)) == 5


def test_publishing_costs_the_same_whatever_the_number_of_subscribers(
        demo, personas, django_assert_max_num_queries):
    incident = declare_incident(personas["commander"], "Payments failing", ["payments"])
    Subscriber.objects.bulk_create([Subscriber(
        kind="email", target=encrypt(f"s{n}@example.test"), hint="s", digest=str(n),
        secret="x", confirmed_at=timezone.now()) for n in range(300)])
    with django_assert_max_num_queries(40):
        actions.publish_update(incident, personas["communicator"], "investigating", "a", "b")
    assert Delivery.objects.filter(purpose="broadcast").count() == 0  # the worker's job
