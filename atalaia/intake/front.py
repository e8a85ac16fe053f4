"""A thin WSGI layer that serves the intake endpoints before Django's middleware.

Intake requests need none of the console's middleware (sessions, CSRF, locale,
authentication, messages…): they carry their own key. Going through it cost
more than everything else an event needs, so the real server answers these
POSTs here, with the same code as the Django views (receive.py), and hands
every other request, and any other method on these paths, to Django.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import parse_qs

from django.conf import settings

from atalaia.intake import receive
from atalaia.lib.headers import security_headers

ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^/(?:intake/pagerduty/)?v2/enqueue$"), "pagerduty"),
    (re.compile(r"^/(?:intake/pagerduty/)?v2/change/enqueue$"), "pagerduty_change"),
    (re.compile(r"^/intake/(alertmanager|generic)(?:/([^/]+))?$"), "webhook"),
]


class IntakeFront:
    def __init__(self, application: Callable) -> None:
        self.application = application

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            path = environ.get("PATH_INFO", "")
            for pattern, route in ROUTES:
                match = pattern.match(path)
                if match:
                    answer = self._answer(route, match, environ)
                    return self._respond(answer, start_response)
        return self.application(environ, start_response)

    def _answer(self, route: str, match: re.Match, environ: dict) -> receive.Answer:
        raw = self._body(environ)
        if isinstance(raw, receive.Answer):
            return raw
        if route == "pagerduty":
            return receive.pagerduty_event(raw)
        if route == "pagerduty_change":
            return receive.pagerduty_change(raw)
        query = parse_qs(environ.get("QUERY_STRING", ""))
        key = receive.webhook_key(match.group(2), environ.get("HTTP_AUTHORIZATION", ""),
                                  (query.get("key") or [""])[0])
        return receive.webhook(match.group(1), raw, key)

    @staticmethod
    def _body(environ: dict) -> bytes | receive.Answer:
        """The body by its Content-Length or, sent chunked without one, up to the end
        the server marks (gunicorn sets wsgi.input_terminated): never more than the
        limit, and a huge one is refused before it is read."""
        limit = settings.INTAKE_MAX_BYTES
        if not environ.get("CONTENT_LENGTH") and environ.get("wsgi.input_terminated"):
            raw = environ["wsgi.input"].read(limit + 1)
            return receive.too_large() if len(raw) > limit else raw
        length = receive.content_length(environ.get("CONTENT_LENGTH"))
        if isinstance(length, receive.Answer):
            return length
        if length > limit:
            return receive.too_large()
        return environ["wsgi.input"].read(length) if length else b""

    @staticmethod
    def _respond(answer: receive.Answer, start_response: Callable) -> list[bytes]:
        content = answer.content()
        phrase = HTTPStatus(answer.status).phrase
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(content))),
                   *security_headers(), *answer.headers]
        if answer.status == 413:  # the body was not read: the connection cannot go on
            headers.append(("Connection", "close"))
        start_response(f"{answer.status} {phrase}", headers)
        return [content]
