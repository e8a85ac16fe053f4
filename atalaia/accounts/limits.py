"""One rate limiter for the whole product: a token bucket per rule and key.

A Rule says how many attempts may come in a burst (capacity) and how long an
empty bucket takes to fill again (per_seconds). `take` spends tokens and says
whether they were there; when they were not, how long until they are. Login,
two-factor codes, contact-method codes, status sign-ups, acknowledgement and
feedback links, intake and status renders all use it, each with its own rule,
keyed by account and by client address (atalaia/lib/clientaddress.py).

Buckets live in the database (one upsert per take, the same statement in
SQLite and PostgreSQL, so every process shares them) or in Redis when
ATALAIA_REDIS_URL is set (one Lua script per take). Keys are stored hashed:
the table says nothing about who tried what. Times come from time.time(), so
tests move them with a controlled clock.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.db import connection

from atalaia.accounts.models import TokenBucket


@dataclass(frozen=True)
class Rule:
    name: str
    capacity: float  # tokens in a full bucket: the burst allowed
    per_seconds: float  # seconds for an empty bucket to fill again

    @property
    def rate(self) -> float:
        return self.capacity / self.per_seconds


@dataclass(frozen=True)
class Taken:
    allowed: bool
    retry_after: float  # seconds until the tokens asked for are there; 0 when allowed

    def __bool__(self) -> bool:
        return self.allowed


def bucket_key(rule: Rule, key: str) -> str:
    return hashlib.sha256(f"{rule.name}\0{key}".encode()).hexdigest()


def take(rule: Rule, key: str, tokens: float = 1.0) -> Taken:
    """Spend `tokens` from the bucket of (rule, key) if it holds them."""
    now = time.time()
    if settings.REDIS_URL:
        allowed, left = _take_redis(bucket_key(rule, key), rule, tokens, now)
    else:
        allowed, left = _take_database(bucket_key(rule, key), rule, tokens, now)
    if allowed:
        return Taken(True, 0.0)
    return Taken(False, (min(tokens, rule.capacity) - left) / rule.rate)


def reset(rule: Rule, key: str) -> None:
    """Fill the bucket again (a successful login forgets the failures before it)."""
    if settings.REDIS_URL:
        _redis().delete(_redis_name(bucket_key(rule, key)))
    else:
        TokenBucket.objects.filter(key=bucket_key(rule, key)).delete()


def prune() -> int:
    """Forget full buckets (the worker's job): a full bucket is the same as none."""
    if settings.REDIS_URL:
        return 0  # Redis expires them itself
    deleted, _ = TokenBucket.objects.filter(full_at__lt=time.time()).delete()
    return deleted


# Refills add up in floating point: five sixths and one sixth make 0.9999999999999999.
# A token that is there to within this much is there, so that waiting the time
# Retry-After said is always enough, however often the client asked in between.
EPSILON = 1e-9

# Refill since the last take, spend if there is enough, and remember when the
# bucket will be full again, in one statement; the conflict target is the key.
_REFILLED = "{least}(%(capacity)s, b.tokens + {greatest}(0, %(now)s - b.stamp) * %(rate)s)"
_UPSERT = """
INSERT INTO accounts_tokenbucket AS b (key, tokens, stamp, full_at, allowed)
VALUES (%(key)s, %(first)s, %(now)s, %(first_full)s, %(first_allowed)s)
ON CONFLICT (key) DO UPDATE SET
  allowed = ({refilled} >= %(needed)s),
  tokens = CASE WHEN {refilled} >= %(needed)s THEN {refilled} - %(tokens)s ELSE {refilled} END,
  full_at = %(now)s + (%(capacity)s - CASE WHEN {refilled} >= %(needed)s
                                      THEN {refilled} - %(tokens)s ELSE {refilled} END) / %(rate)s,
  stamp = %(now)s
RETURNING allowed, tokens
"""


@cache
def _upsert_sql(vendor: str) -> str:
    least, greatest = ("LEAST", "GREATEST") if vendor == "postgresql" else ("MIN", "MAX")
    return _UPSERT.format(refilled=_REFILLED.format(least=least, greatest=greatest))


def _take_database(key: str, rule: Rule, tokens: float, now: float) -> tuple[bool, float]:
    first_allowed = rule.capacity >= tokens
    first = rule.capacity - tokens if first_allowed else rule.capacity
    params: dict[str, str | float | bool] = {
        "key": key, "now": now, "capacity": rule.capacity, "rate": rule.rate,
        "tokens": tokens, "needed": tokens - EPSILON, "first": first,
        "first_allowed": first_allowed, "first_full": now + (rule.capacity - first) / rule.rate}
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(connection.vendor), params)
        allowed, left = cursor.fetchone()
    return bool(allowed), float(left)


# The same arithmetic in Redis; the bucket expires once it would be full.
_LUA = """
local capacity, rate, tokens, now = tonumber(ARGV[1]), tonumber(ARGV[2]),
                                    tonumber(ARGV[3]), tonumber(ARGV[4])
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local left = capacity
if saved[1] then
  left = math.min(capacity, tonumber(saved[1]) + math.max(0, now - tonumber(saved[2])) * rate)
end
local allowed = 0
if left + 1e-9 >= tokens then left = left - tokens; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(left), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil((capacity - left) / rate) + 1)
return {allowed, tostring(left)}
"""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _redis_name(key: str) -> str:
    return f"atalaia:bucket:{key}"


def _take_redis(key: str, rule: Rule, tokens: float, now: float) -> tuple[bool, float]:
    allowed, left = _redis().eval(_LUA, 1, _redis_name(key), rule.capacity, rule.rate,
                                  tokens, now)
    return bool(allowed), float(left)


def seconds_text(seconds: float) -> int:
    """Whole seconds to tell a person to wait (never 0 while they must wait)."""
    return max(1, math.ceil(seconds - EPSILON))  # 1.0000000000000004 s is 1 s
