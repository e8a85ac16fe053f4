"""The guard on URLs people type: private and local addresses are refused unless
the team allows them; the send path checks again."""

import json
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from atalaia.lib import outbound
from atalaia.notify.models import Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue, send_due
from tests.servers import Receiver


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://10.0.0.5/x",
                                 "http://[::1]/x", "http://169.254.169.254/latest/meta-data",
                                 "http://localhost/x"])
def test_private_and_local_addresses_are_refused(settings, url):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.OutboundRefused, match="private or local"):
        outbound.check_url(url)


@pytest.mark.parametrize(("url", "why"), [("ftp://example.com/x", "http:// or https://"),
                                          ("https://user:pw@example.com/", "user name"),
                                          ("https:///nohost", "name a host")])
def test_malformed_urls_are_refused(url, why):
    with pytest.raises(outbound.OutboundRefused, match=why):
        outbound.check_url(url)


def test_a_signed_webhook_is_sent_with_its_headers(db):
    receiver = Receiver()
    try:
        enqueue("webhook", f"http://127.0.0.1:{receiver.port}/hook", "hook", "s",
                json.dumps({"a": 1}), "wh-1", headers={"X-Atalaia-Signature": "sha256=ab"})
        assert send_due() == 1
    finally:
        receiver.server.shutdown()
    assert receiver.bodies == [{"a": 1}]
    assert receiver.headers[0]["X-Atalaia-Signature"] == "sha256=ab"
    assert Delivery.objects.get().status == DeliveryStatus.SENT


def test_the_send_path_checks_the_address_again(db, settings):
    enqueue("webhook", "http://127.0.0.1:9/hook", "hook", "s", "{}", "wh-2")
    settings.OUTBOUND_ALLOW_PRIVATE = False
    send_due()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "refused: 127.0.0.1 is a private or local address" in delivery.last_error


# --- a total deadline and a bounded reply (issue 12: one slow subscriber held paging up)


class Trickler:
    """A receiver that answers one byte a second (at most `most` bytes, then hangs up):
    each read gets something well within any per-read timeout."""

    def __init__(self, most: int = 30):
        self.stopped = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.most = most
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"[:self.most]:
                if self.stopped.wait(1.0):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def stop(self):
        self.stopped.set()
        self.sock.close()


def test_a_receiver_that_trickles_is_cut_off_at_the_total_deadline(db, settings):
    settings.OUTBOUND_DEADLINE_SECONDS = 1.5
    trickler = Trickler()
    try:
        enqueue("webhook", f"http://127.0.0.1:{trickler.port}/hook", "hook", "s", "{}", "wh-t")
        started = time.monotonic()
        send_due()
        elapsed = time.monotonic() - started
    finally:
        trickler.stop()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "no complete answer within 1.5 s" in delivery.last_error
    assert elapsed < 1.5 + 2.5  # an upper bound: the deadline, plus room for a busy machine


class BigReply:
    """A receiver whose reply is 300 MB, made as it is sent."""

    SIZE = 300 * 2**20

    def __init__(self, status: int):
        chunk = b"x" * 2**20

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                self.send_response(status)
                self.send_header("Content-Length", str(BigReply.SIZE))
                self.end_headers()
                try:
                    for _ in range(BigReply.SIZE // len(chunk)):
                        self.wfile.write(chunk)
                except OSError:
                    pass  # the caller stopped reading, as it should

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def rss() -> int:
    """This process's resident memory in bytes, from /proc/self/statm."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """The highest resident memory seen while the block runs (sampled every 2 ms):
    memory freed at the end of the call would not show in a reading after it."""

    def __enter__(self):
        self.before = self.peak = rss()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.002):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, rss())

    @property
    def growth(self) -> int:
        return self.peak - self.before


@pytest.mark.parametrize(("status", "outcome"), [(200, DeliveryStatus.SENT),
                                                 (503, DeliveryStatus.FAILED)])
def test_a_300_mb_reply_leaves_memory_flat_and_the_status_decides(db, status, outcome):
    receiver = BigReply(status)
    try:
        enqueue("webhook", f"http://127.0.0.1:{receiver.port}/hook", "hook", "s", "{}", "wh-b")
        with PeakMemory() as memory:
            send_due()
    finally:
        receiver.server.shutdown()
    delivery = Delivery.objects.get()
    assert delivery.status == outcome, delivery.last_error
    assert memory.growth < 50 * 2**20, f"grew {memory.growth / 2**20:.0f} MB"
