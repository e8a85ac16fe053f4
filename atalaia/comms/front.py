"""A thin WSGI layer that serves the public status site from ready bytes.

The status page must survive a traffic spike during a crisis. A GET on a public
path is answered from this process's memory when the copy was built from the
current status version (comms/version.py: one number that every public change
raises, read from the database at most every STATUS_VERSION_CHECK_SECONDS); only
a miss enters Django, once per key, and the bytes it returns are kept; while one
thread renders a new copy, the others serve the previous one. So a change made by
any process shows within that interval, and a change per second costs one render
per page per second.

Keys are the path, the query string and the visitor's language. Responses carry
an ETag and Last-Modified, and a matching If-None-Match gets 304. Renders (cache
misses) are rate limited per client address, counted in Django's cache: across
processes when Redis is configured, per process otherwise.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import formatdate

from django.conf import settings
from django.core.cache import cache

from atalaia.comms import language, version

# Forms with CSRF tokens and per-visitor links are never cached.
DYNAMIC = ("/status/subscribe", "/status/subscription", "/status/unsubscribe")
KEEP_HEADERS = ("content-type", "access-control-allow-origin", "content-security-policy",
                "location")
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
            _query_lang(environ), environ.get("HTTP_ACCEPT_LANGUAGE", "")))
        current = version.current()
        copy = self._fresh(key, current)
        if copy is None:
            copy = self._refresh(key, current, environ)
            if copy is None:
                return _too_many(start_response)
        return _send(copy, environ, start_response, method == "HEAD")

    def _refresh(self, key: tuple, current: int, environ: dict) -> Copy | None:
        """One thread renders the new copy; while it does, the others keep serving the
        previous one (a few milliseconds more of the old page, no queue behind the
        render). Without a previous copy they wait for the render. None: rate limited."""
        lock = self._render_lock(key)
        stale = self.copies.get(key)
        if stale is not None and not lock.acquire(blocking=False):
            return stale
        if stale is None:
            lock.acquire()
        try:
            copy = self._fresh(key, current)  # another thread may have built it
            if copy is None:
                if not self._within_rate(environ):
                    return stale
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
    def _within_rate(environ: dict) -> bool:
        limit = settings.STATUS_RENDERS_PER_MINUTE
        if not limit:
            return True
        client = environ.get("REMOTE_ADDR", "?")
        key = f"status-renders:{client}"
        if cache.add(key, 1, 60):
            return True
        try:
            return cache.incr(key) <= limit
        except ValueError:  # expired between add and incr
            return cache.add(key, 1, 60) or True


def _query_lang(environ: dict) -> str:
    for part in environ.get("QUERY_STRING", "").split("&"):
        name, _sep, value = part.partition("=")
        if name == "lang":
            return value
    return ""


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


def _too_many(start_response: Callable) -> list[bytes]:
    start_response("429 Too Many Requests", [("Content-Type", "text/plain; charset=utf-8"),
                                             ("Retry-After", "60")])
    return [b"Too many requests: try again in a minute.\n"]
