"""The guard on URLs people type: private and local addresses are refused unless
the team allows them; the send path checks again."""

import json

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
