"""The guard on URLs people type: private and local addresses are refused unless
the team allows them, when the URL is registered and again as each connection is
made (to the address checked, so a name that changes its answer gets nowhere)."""

import ipaddress
import json
import os
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client
from dnslib import QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from atalaia.lib import outbound
from atalaia.notify import contacts
from atalaia.notify.models import Channel, Delivery, DeliveryStatus
from atalaia.notify.outbox import enqueue, send_due
from conftest import signed_in
from tests.servers import Receiver, self_signed


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


# --- every private form, at registration and at connect time (issue 13: the guard could
# be walked around with NAT64 and with a name that answers differently the second time)

PRIVATE_HOSTS = {
    "loopback": "127.0.0.1",
    "private": "10.0.0.5",
    "link-local (cloud metadata)": "169.254.169.254",
    "carrier-grade NAT": "100.64.0.1",
    "multicast": "224.0.1.1",
    "reserved": "240.0.0.1",
    "unspecified": "0.0.0.0",
    "IPv6 loopback": "[::1]",
    "IPv6 unspecified": "[::]",
    "IPv6 unique local": "[fc00::1]",
    "IPv6 link-local": "[fe80::1]",
    "IPv6 multicast": "[ff02::1]",
    "IPv4-mapped loopback": "[::ffff:7f00:1]",
    "IPv4-mapped, even of a public address": "[::ffff:808:808]",
    "IPv4-compatible loopback": "[::7f00:1]",
    "NAT64 of loopback": "[64:ff9b::7f00:1]",
    "NAT64 of a private address": "[64:ff9b::a00:5]",
    "local-use NAT64": "[64:ff9b:1::808:808]",
    "6to4 of loopback": "[2002:7f00:1::]",
    "6to4 of cloud metadata": "[2002:a9fe:a9fe::1]",
    # The client's address is stored inverted: 0x80fffffe is 127.0.0.1.
    "Teredo of loopback": "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
}
PRIVATE = pytest.mark.parametrize("host", PRIVATE_HOSTS.values(), ids=PRIVATE_HOSTS.keys())


@PRIVATE
def test_every_private_form_is_refused_at_registration(settings, host):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    with pytest.raises(outbound.OutboundRefused, match="private or local"):
        outbound.check_url(f"http://{host}/hook")
    with pytest.raises(contacts.ContactError, match="private or local"):
        contacts.check_target(Channel.APPRISE, f"json://{host}/hook")


@PRIVATE
def test_every_private_form_is_refused_at_connect_time(db, settings, host):
    """Registered while private addresses were allowed, then sent without: the webhook
    (through httpx) and the Apprise URL (through requests) are both stopped."""
    enqueue("webhook", f"http://{host}:9/hook", "hook", "s", "{}", "wh-1")
    enqueue("apprise", f"json://{host}:9/hook", "chat", "s", "b", "ap-1")
    settings.OUTBOUND_ALLOW_PRIVATE = False
    send_due()
    for delivery in Delivery.objects.all():
        assert delivery.status == DeliveryStatus.FAILED
        shown = delivery.last_error.removeprefix("refused: ")
        assert shown.endswith(" is a private or local address"), delivery.last_error
        shown = shown.removesuffix(" is a private or local address")
        assert ipaddress.ip_address(shown) == ipaddress.ip_address(host.strip("[]"))


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111",
                                     "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_and_their_nat64_and_6to4_forms_pass(address):
    assert outbound.is_public(address)


def test_a_webhook_sign_up_to_nat64_loopback_is_refused_with_a_400(demo, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    answer = Client().post("/status/subscribe/", {
        "kind": "webhook", "address": "http://[64:ff9b::7f00:1]/", "language": "en"})
    assert answer.status_code == 400
    assert b"64:ff9b::7f00:1 is a private or local address" in answer.content


def test_a_company_channel_to_a_private_host_is_refused(personas, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    admin = signed_in(personas["admin"])
    answer = admin.post("/comms/channels/", {"name": "ops", "kind": "chat",
                                              "url": "json://[2002:7f00:1::]/hook"},
                        follow=True)
    assert "2002:7f00:1:: is a private or local address" in answer.content.decode()
    # A URL whose "host" is a token is left to the guard at send time.
    contacts.check_apprise_host("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ")


# --- a name that answers a public address, then loopback (DNS rebinding)


class ScriptedDNS:
    """A DNS server on 127.0.0.1 (UDP) that answers each A query for a name with the
    next address of its script (the last one again once the script is used up), no
    AAAA record, and NXDOMAIN for any other name. `asked` counts the A queries."""

    def __init__(self, script: dict[str, list[str]]):
        self.asked: dict[str, int] = {}
        dns = self

        class Scripted(BaseResolver):
            def resolve(self, request, handler):
                reply = request.reply()
                name = str(request.q.qname).rstrip(".")
                if name not in script:
                    reply.header.rcode = RCODE.NXDOMAIN
                elif request.q.qtype == QTYPE.A:
                    turn = dns.asked.get(name, 0)
                    dns.asked[name] = turn + 1
                    address = script[name][min(turn, len(script[name]) - 1)]
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=0))
                return reply

        self.server = DNSServer(Scripted(), address="127.0.0.1", port=0,
                                logger=DNSLogger("-request,-reply,-truncated,-error"))
        self.address = f"127.0.0.1:{self.server.server.server_address[1]}"
        self.server.start_thread()

    def stop(self):
        self.server.stop()


@pytest.fixture
def dns_server(settings):
    servers = []

    def start(script: dict[str, list[str]]) -> ScriptedDNS:
        servers.append(ScriptedDNS(script))
        settings.OUTBOUND_NAMESERVER = servers[-1].address
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_a_name_that_turns_to_loopback_after_registration_is_refused(db, settings,
                                                                      dns_server):
    settings.OUTBOUND_ALLOW_PRIVATE = False
    receiver = Receiver()
    dns = dns_server({"rebind.example": ["93.184.215.14", "127.0.0.1"]})
    url = f"http://rebind.example:{receiver.port}/hook"
    try:
        assert outbound.check_url(url) == url  # registration sees the public address
        enqueue("webhook", url, "hook", "s", "{}", "wh-r")
        send_due()
    finally:
        receiver.server.shutdown()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == ("refused: rebind.example leads to 127.0.0.1, "
                                   "a private or local address")
    assert dns.asked == {"rebind.example": 2} and receiver.bodies == []


def test_the_connection_goes_to_the_address_checked_not_to_a_second_answer(settings,
                                                                           dns_server):
    """Private addresses allowed, the first answer is the receiver: were the name
    resolved again to connect, the request would go to 10.255.255.1 and time out."""
    receiver = Receiver()
    dns = dns_server({"once.example": ["127.0.0.1", "10.255.255.1"]})
    try:
        reply = outbound.post(f"http://once.example:{receiver.port}/hook", b"{}", {})
    finally:
        receiver.server.shutdown()
    assert reply.status_code == 200 and dns.asked == {"once.example": 1}
    assert receiver.headers[0]["Host"] == f"once.example:{receiver.port}"


# --- the host name is kept for TLS: the server name sent and the certificate checked


class TLSReceiver:
    """An HTTPS endpoint on 127.0.0.1 that keeps the server names (SNI) asked for and
    the Host headers of the requests."""

    def __init__(self, cert: str, key: str):
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hosts.append(self.headers["Host"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_tls_names_the_host_and_checks_its_certificate(settings, dns_server, tmp_path,
                                                       monkeypatch):
    cert, key = map(str, self_signed(tmp_path, host="hooks.example"))
    monkeypatch.setenv("SSL_CERT_FILE", cert)  # trust the test's certificate, as httpx does
    dns_server({"hooks.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    receiver = TLSReceiver(cert, key)
    try:
        reply = outbound.post(f"https://hooks.example:{receiver.port}/hook", b"{}", {})
        with pytest.raises(outbound.httpx.ConnectError, match="certificate"):
            outbound.post(f"https://other.example:{receiver.port}/hook", b"{}", {})
    finally:
        receiver.server.shutdown()
    assert reply.status_code == 204
    assert receiver.server_names[0] == "hooks.example"
    assert receiver.hosts == [f"hooks.example:{receiver.port}"]
