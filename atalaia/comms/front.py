"""A thin WSGI layer that serves the public status site from ready bytes.

The status page must survive a traffic spike during a crisis. A GET on a public
path is answered from this process's memory when the copy was built from the
current status version (comms/version.py: one number that every public change
raises, read from the database at most every STATUS_VERSION_CHECK_SECONDS); only
a miss enters Django, once per key, and the bytes it returns are kept; while one
thread renders a new copy, the others serve the previous one. So a change made by
any process shows within that interval, and a change per second costs one render
per page per second.

Keys are the path, the query string, the visitor's language and whether the request
came over HTTPS (HSTS is sent only then). A copy keeps the content headers and every
security header Django put on it (CSP, nosniff, frame rules…). Responses carry
an ETag and Last-Modified, and a matching If-None-Match gets 304. Renders (cache
misses) are rate limited per client address (accounts/limits.py, shared by every
process; the address as lib/clientaddress.py finds it behind trusted proxies).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate

from django.conf import settings
from django.utils import translation

from atalaia.accounts import limits, throttle
from atalaia.comms import language, version
from atalaia.lib.clientaddress import client_address
from atalaia.lib.headers import security_headers

# Forms with CSRF tokens and per-visitor links are never cached.
DYNAMIC = ("/status/subscribe", "/status/subscription", "/status/unsubscribe")
KEEP_HEADERS = ("content-type", "access-control-allow-origin", "location",
                "content-security-policy", "x-content-type-options", "x-frame-options",
                "referrer-policy", "cross-origin-opener-policy", "strict-transport-security")
MAX_ENTRIES = 2000


@dataclass(frozen=True)
class Copy:
    version: int
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    etag: str


class StatusFront:
    def __init__(self, application: Callable) -> None:
        self.application = application
        self.copies: OrderedDict[tuple, Copy] = OrderedDict()
        self.lock = threading.Lock()
        self.rendering: dict[tuple, threading.Lock] = {}

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if method not in ("GET", "HEAD") or not path.startswith("/status/") \
                or path.startswith(DYNAMIC):
            return self.application(environ, start_response)
        key = (path, environ.get("QUERY_STRING", ""), language.choose(
            _query_lang(environ), environ.get("HTTP_ACCEPT_LANGUAGE", "")), _scheme(environ))
        current = version.current()
        copy = self._fresh(key, current) or self._refresh(key, current, environ)
        if isinstance(copy, limits.Taken):
            return _too_many(start_response, copy, path, key[2])
        return _send(copy, environ, start_response, method == "HEAD")

    def _refresh(self, key: tuple, current: int, environ: dict) -> Copy | limits.Taken:
        """One thread renders the new copy; while it does, the others keep serving the
        previous one (a few milliseconds more of the old page, no queue behind the
        render). Without a previous copy they wait for the render. A client over its
        rate gets the previous copy, or without one the refusal."""
        lock = self._render_lock(key)
        stale = self.copies.get(key)
        if stale is not None and not lock.acquire(blocking=False):
            return stale
        if stale is None:
            lock.acquire()
        try:
            copy = self._fresh(key, current)  # another thread may have built it
            if copy is None:
                taken = self._within_rate(environ)
                if not taken:
                    return stale if stale is not None else taken
                copy = self._render(key, current, environ)
            return copy
        finally:
            lock.release()

    def _fresh(self, key: tuple, current: int) -> Copy | None:
        copy = self.copies.get(key)
        return copy if copy is not None and copy.version == current else None

    def _render_lock(self, key: tuple) -> threading.Lock:
        with self.lock:
            return self.rendering.setdefault(key, threading.Lock())

    def _render(self, key: tuple, current: int, environ: dict) -> Copy:
        """Django's answer as bytes; kept when it is a page (200) or a public 404."""
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        environ = {**environ, "REQUEST_METHOD": "GET", "HTTP_COOKIE": ""}
        body = b"".join(self.application(environ, capture))
        status = captured["status"]
        headers = [(k, v) for k, v in captured["headers"] if k.lower() in KEEP_HEADERS]
        copy = Copy(current, status, headers, body,
                    '"' + hashlib.sha1(body, usedforsecurity=False).hexdigest()[:20] + '"')
        if not status.startswith(("200", "404")):
            return copy
        with self.lock:
            self.copies[key] = copy
            self.copies.move_to_end(key)
            while len(self.copies) > MAX_ENTRIES:
                self.copies.popitem(last=False)
        return copy

    @staticmethod
    def _within_rate(environ: dict) -> limits.Taken:
        """Renders per client address: a burst of STATUS_RENDERS_PER_MINUTE, refilled
        over a minute (the one rate limiter, shared by every process)."""
        limit = settings.STATUS_RENDERS_PER_MINUTE
        if not limit:
            return limits.Taken(True, 0.0)
        return limits.take(limits.Rule("status.renders", limit, 60), client_address(environ))


def _query_lang(environ: dict) -> str:
    for part in environ.get("QUERY_STRING", "").split("&"):
        name, _sep, value = part.partition("=")
        if name == "lang":
            return value
    return ""


def _scheme(environ: dict) -> str:
    """http or https, decided as Django's HttpRequest.scheme does (the proxy's header
    when SECURE_PROXY_SSL_HEADER names one and the request has it)."""
    if settings.SECURE_PROXY_SSL_HEADER:
        header, secure = settings.SECURE_PROXY_SSL_HEADER
        value = environ.get(header)
        if value is not None:
            return "https" if value.split(",", 1)[0].strip() == secure else "http"
    return environ.get("wsgi.url_scheme", "http")


def _send(copy: Copy, environ: dict, start_response: Callable, head: bool) -> list[bytes]:
    headers = [*copy.headers, ("ETag", copy.etag), ("Vary", "Accept-Language"),
               ("Cache-Control", f"public, max-age={settings.STATUS_MAX_AGE}"),
               ("Last-Modified", version_changed_at() or formatdate(usegmt=True))]
    modified = headers[-1][1]
    if environ.get("HTTP_IF_NONE_MATCH") == copy.etag or (
            "HTTP_IF_NONE_MATCH" not in environ
            and environ.get("HTTP_IF_MODIFIED_SINCE") == modified):
        start_response("304 Not Modified", headers)
        return []
    start_response(copy.status, [*headers, ("Content-Length", str(len(copy.body)))])
    return [] if head else [copy.body]


_changed: dict[str, str] = {}


def version_changed_at() -> str:
    """The HTTP date of the newest public change (cached with the version number)."""
    current = version.current()
    if _changed.get("version") != str(current):
        from atalaia.comms.models import StatusVersion

        row = StatusVersion.objects.filter(pk=1).values_list("changed_at", flat=True).first()
        _changed["version"] = str(current)
        _changed["date"] = formatdate(row.timestamp(), usegmt=True) if row else ""
    return _changed["date"]


def _too_many(start_response: Callable, taken: limits.Taken, path: str,
              lang: str) -> list[bytes]:
    """429 with when to come back, in the visitor's language; JSON for the JSON API.
    Plain, not the page's layout: rendering that is what the limit rations."""
    with translation.override(lang):
        message = throttle.wait_text(taken)
    if path.endswith(".json"):
        kind, body = "application/json", json.dumps({"error": message}).encode()
    else:
        kind, body = "text/plain; charset=utf-8", (message + "\n").encode()
    start_response("429 Too Many Requests", [("Content-Type", kind),
                                             ("Retry-After",
                                              str(limits.seconds_text(taken.retry_after))),
                                             *security_headers()])
    return [body]
