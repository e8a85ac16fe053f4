"""The public signed links (acknowledge a page, answer the satisfaction question, a
subscriber's confirm, manage and unsubscribe links) are rate limited per client
address and per link by the one rate limiter (atalaia/accounts/throttle.py): 429
with Retry-After on the page's own layout, in the visitor's language, then allowed
again once the clock has refilled the bucket. Behind a trusted proxy X-Forwarded-For
names the client; from anywhere else it is ignored."""

import pytest
import time_machine
from django.test import Client

from atalaia.accounts import throttle

T0 = 1_900_000_000.0
LINKS = ["/ack/{}/", "/feedback/{}/", "/status/subscribe/confirm/{}/",
         "/status/subscription/{}/", "/status/unsubscribe/{}/"]
PER_LINK = int(throttle.LINKS_PER_LINK.capacity)
PER_CLIENT = int(throttle.LINKS_PER_CLIENT.capacity)


@pytest.fixture
def clock(db):
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.mark.parametrize("link", LINKS)
def test_one_link_opened_too_often_waits_for_the_clock(link, clock):
    path = link.format("not-a-valid-token")
    visitor = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(PER_LINK):
        assert visitor.get(path).status_code == 400  # allowed: the token is looked at
    refused = visitor.post(path + "?lang=pt-br", HTTP_ACCEPT_LANGUAGE="pt-br")
    # A bucket of 10 refilled over a minute: the next request in 6 s.
    assert refused.status_code == 429 and refused["Retry-After"] == "6"
    text = refused.content.decode()
    assert 'class="errors"' in text and "</html>" in text  # the page's own layout
    assert "Muitas solicitações. Tente de novo em 6 segundos." in text
    # The same link from elsewhere is refused too: the limit is the link's.
    assert Client(REMOTE_ADDR="203.0.113.10").get(path).status_code == 429
    clock.shift(5)
    assert visitor.get(path).status_code == 429
    clock.shift(1)
    assert visitor.get(path).status_code == 400


@pytest.mark.parametrize("link", LINKS)
def test_one_client_opening_many_links_waits_for_the_clock(link, clock):
    visitor = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(PER_CLIENT):
        assert visitor.get(link.format(f"guess-{n}")).status_code == 400
    refused = visitor.get(link.format("guess-next"))
    assert refused.status_code == 429 and refused["Retry-After"] == "1"
    assert "Too many requests. Try again in 1 second." in refused.content.decode()
    assert Client(REMOTE_ADDR="203.0.113.10").get(link.format("guess-next")).status_code == 400
    clock.shift(1)
    assert visitor.get(link.format("guess-later")).status_code == 400


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(clock, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxy = Client(REMOTE_ADDR="10.0.0.2")
    for n in range(PER_CLIENT):
        assert proxy.get(f"/ack/guess-{n}/", HTTP_X_FORWARDED_FOR="198.51.100.7") \
            .status_code == 400
    assert proxy.get("/ack/guess-x/", HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 429
    # Another client behind the same proxy has its own bucket.
    assert proxy.get("/ack/guess-y/", HTTP_X_FORWARDED_FOR="198.51.100.8").status_code == 400
    # From an address that is no trusted proxy, the header is ignored: one bucket.
    stranger = Client(REMOTE_ADDR="203.0.113.5")
    for n in range(PER_CLIENT):
        assert stranger.get(f"/ack/other-{n}/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}") \
            .status_code == 400
    assert stranger.get("/ack/other-x/", HTTP_X_FORWARDED_FOR="198.51.100.99") \
        .status_code == 429
