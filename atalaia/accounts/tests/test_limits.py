"""The one rate limiter: a token bucket in the database or in Redis, on a controlled clock."""

import uuid

import pytest
import redis
import time_machine
from django.test import override_settings

from atalaia.accounts import limits
from atalaia.accounts.models import TokenBucket
from atalaia.lib.clientaddress import client_address

T0 = 1_900_000_000.0
RULE = limits.Rule("test", capacity=3, per_seconds=60)  # 3 at once, one more every 20 s
REDIS_URL = "redis://127.0.0.1:6379/9"


@pytest.fixture(params=["database", "redis"])
def backend(request, db):
    if request.param == "database":
        yield
        return
    redis.Redis.from_url(REDIS_URL).ping()  # a missing Redis fails the test, never skips it
    limits._redis.cache_clear()
    with override_settings(REDIS_URL=REDIS_URL):
        yield
    limits._redis.cache_clear()


def key() -> str:
    return uuid.uuid4().hex


def test_a_burst_then_refusal_with_the_wait_then_refill(backend):
    who = key()
    with time_machine.travel(T0, tick=False) as clock:
        assert [bool(limits.take(RULE, who)) for _ in range(4)] == [True, True, True, False]
        refused = limits.take(RULE, who)
        assert not refused and refused.retry_after == pytest.approx(20)
        clock.shift(19)
        assert not limits.take(RULE, who)
        clock.shift(1)
        assert limits.take(RULE, who)  # one token came back in 20 s
        assert not limits.take(RULE, who)
        clock.shift(3600)
        assert [bool(limits.take(RULE, who)) for _ in range(4)] == [True, True, True, False]


def test_refused_attempts_do_not_spend_and_keys_and_rules_are_apart(backend):
    who, other = key(), key()
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(3):
            limits.take(RULE, who)
        for _ in range(50):
            limits.take(RULE, who)  # refused: the bucket stays at 0, not below
        clock.shift(20)
        assert limits.take(RULE, who)
        assert limits.take(RULE, other)
        assert limits.take(limits.Rule("another", 1, 60), who)


def test_taking_several_tokens_and_more_than_a_bucket_holds(backend):
    who = key()
    with time_machine.travel(T0, tick=False):
        assert limits.take(RULE, who, tokens=2)
        assert not limits.take(RULE, who, tokens=2)
        assert limits.take(RULE, who, tokens=1)
        assert not limits.take(RULE, key(), tokens=4)


def test_reset_fills_the_bucket(backend):
    who = key()
    with time_machine.travel(T0, tick=False):
        for _ in range(3):
            limits.take(RULE, who)
        limits.reset(RULE, who)
        assert limits.take(RULE, who)


def test_a_clock_moved_back_gives_no_tokens(backend):
    who = key()
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(3):
            limits.take(RULE, who)
        clock.move_to(T0 - 3600)
        assert not limits.take(RULE, who)


def test_keys_are_stored_hashed_and_full_buckets_are_pruned(db):
    with time_machine.travel(T0, tick=False) as clock:
        limits.take(RULE, "alice@example.com")
        assert list(TokenBucket.objects.values_list("key", flat=True)) == [
            limits.bucket_key(RULE, "alice@example.com")]
        assert limits.prune() == 0
        clock.shift(21)  # the one token spent is back: the bucket is full
        assert limits.prune() == 1
        assert not TokenBucket.objects.exists()


@pytest.mark.parametrize(("trusted", "remote", "forwarded", "expected"), [
    ([], "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # header from anyone: ignored
    (["10.0.0.0/8"], "10.0.0.2", "198.51.100.1", "198.51.100.1"),
    (["10.0.0.0/8"], "10.0.0.2", "1.2.3.4, 198.51.100.1, 10.0.0.7", "198.51.100.1"),
    (["10.0.0.0/8"], "10.0.0.2", "", "10.0.0.2"),
    (["10.0.0.0/8"], "10.0.0.2", "not-an-address", "10.0.0.2"),
    (["10.0.0.0/8"], "203.0.113.9", "198.51.100.1", "203.0.113.9"),
    (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
    # Ports some load balancers add, and IPv4 mapped into IPv6 by dual-stack sockets.
    (["10.0.0.0/8"], "10.0.0.2", "198.51.100.1:5555", "198.51.100.1"),
    (["10.0.0.0/8"], "10.0.0.2", "[2001:db8::5]:443, 10.0.0.3:80", "2001:db8::5"),
    (["127.0.0.1"], "::ffff:127.0.0.1", "198.51.100.1", "198.51.100.1"),
    ([], "::ffff:203.0.113.9", "", "203.0.113.9"),
])
def test_client_address_believes_only_trusted_proxies(trusted, remote, forwarded, expected):
    meta = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": forwarded}
    with override_settings(TRUSTED_PROXIES=trusted):
        assert client_address(meta) == expected


def test_waiting_what_retry_after_said_is_enough_however_often_one_asked(backend):
    # 10 a minute: refills of 5/6 and 1/6 of a token add up to 0.9999999999999999.
    rule, who = limits.Rule("test-float", capacity=10, per_seconds=60), key()
    with time_machine.travel(T0, tick=False) as clock:
        for _ in range(10):
            limits.take(rule, who)
        assert limits.seconds_text(limits.take(rule, who).retry_after) == 6
        clock.shift(5)
        refused = limits.take(rule, who)
        assert not refused and limits.seconds_text(refused.retry_after) == 1
        clock.shift(1)
        assert limits.take(rule, who)


def test_a_tls_proxy_without_trusted_proxies_is_warned_about(settings):
    from django.core.checks import run_checks

    settings.BEHIND_TLS_PROXY, settings.TRUSTED_PROXIES = True, []
    assert "atalaia.limits.W001" in [message.id for message in run_checks()]
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert "atalaia.limits.W001" not in [message.id for message in run_checks()]
