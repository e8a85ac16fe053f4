"""What the call sites of the rate limiter (limits.py) share: several buckets taken
in order, the wait said in words, and the refusal as an HTTP answer (429 with
Retry-After, so that browsers, scripts and proxies know when to come back).

The public signed links (acknowledging a page, answering the satisfaction
question, a subscriber's confirm, manage and unsubscribe links) are limited here
too, per client address and per link: the signature already makes guessing
hopeless, this keeps anyone from hammering the pages behind them.
"""

from __future__ import annotations

from typing import Protocol

from django.conf import settings
from django.core import checks
from django.http import HttpResponse
from django.utils.translation import ngettext

from atalaia.accounts import limits
from atalaia.lib.clientaddress import client_address

ALLOWED = limits.Taken(True, 0.0)

# A mail scanner behind one address may open many links of one message at once;
# one link opened more than a few times a minute is a script.
LINKS_PER_CLIENT = limits.Rule("links.client", capacity=60, per_seconds=60)
LINKS_PER_LINK = limits.Rule("links.link", capacity=10, per_seconds=60)


def take_each(*buckets: tuple[limits.Rule, str]) -> limits.Taken:
    """One token from each bucket in order; the first refusal stops there (the
    buckets after it are not spent)."""
    for rule, key in buckets:
        taken = limits.take(rule, key)
        if not taken:
            return taken
    return ALLOWED


def link_opened(request, token: str) -> limits.Taken:
    """A request to a public signed link: per client address, then per link."""
    return take_each((LINKS_PER_CLIENT, client_address(request.META)),
                     (LINKS_PER_LINK, token))


def wait_text(taken: limits.Taken) -> str:
    """The refusal in words, with how long to wait, in the active language."""
    seconds = limits.seconds_text(taken.retry_after)
    if seconds < 120:
        return ngettext("Too many requests. Try again in %(seconds)d second.",
                        "Too many requests. Try again in %(seconds)d seconds.",
                        seconds) % {"seconds": seconds}
    minutes = -(-seconds // 60)
    return ngettext("Too many requests. Try again in %(minutes)d minute.",
                    "Too many requests. Try again in %(minutes)d minutes.",
                    minutes) % {"minutes": minutes}


class Wait(Protocol):
    """A limits.Taken, or a lock at sign-in (signin.Refusal)."""

    @property
    def retry_after(self) -> float: ...


def too_many(response: HttpResponse, taken: Wait) -> HttpResponse:
    """The response as a refusal, for people (the page says why) and for scripts: 429 and
    Retry-After (whole seconds)."""
    response.status_code = 429
    response["Retry-After"] = str(limits.seconds_text(taken.retry_after))
    return response


def check_proxy_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Behind a proxy that no setting names, every visitor has the proxy's address:
    one attacker would spend the sign-in bucket every visitor shares."""
    if settings.BEHIND_TLS_PROXY and not settings.TRUSTED_PROXIES:
        return [checks.Warning(
            "ATALAIA_BEHIND_TLS_PROXY is on but ATALAIA_TRUSTED_PROXIES is empty: rate "
            "limits and /metrics see the proxy's address for every visitor.",
            hint="List the proxy's address in ATALAIA_TRUSTED_PROXIES "
                 "(docs/configuration.md, Rate limits).",
            id="atalaia.limits.W001")]
    return []
