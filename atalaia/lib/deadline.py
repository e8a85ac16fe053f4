"""A real deadline for web requests under gunicorn's threaded workers.

gunicorn's `timeout` only notices a worker process whose main loop stops
answering; in a gthread worker that loop keeps running while a request thread
is stuck, so a request could grow a worker without end (an alias bomb took one
to 2.7 GB in 90 s). Python cannot kill a thread, so the deadline works in two
steps, from a watchdog thread the request cannot influence:

1. at the deadline, an exception (RequestDeadline) is raised in the request's
   thread: code running Python stops there, the transaction rolls back, and the
   client gets an error; the worker and its other requests go on;
2. if the same request is still running `grace` seconds later (blocked in C,
   or swallowing the exception), the worker process exits, as gunicorn's own
   timeout does for a sync worker: the master starts a fresh one. The other
   requests of that worker are cut too; nothing they were not answered for is
   lost, since every change is committed before its answer.

Only the application call is timed. A streaming response (the console's live
timelines, Server-Sent Events) returns from that call at once and streams while
the server iterates it, so streams are never cut by this deadline.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import connections

log = logging.getLogger("atalaia.web")
EXIT_STATUS = 70  # EX_SOFTWARE: the master logs it and starts another worker


class RequestDeadline(Exception):  # noqa: N818 - named for what it is, not as an error
    """Raised in a request's thread when it ran past its deadline. An Exception,
    not a BaseException: the server's own handlers then still close the request."""


@dataclass
class _Running:
    path: str
    started: float
    interrupted_at: float | None = None


class Deadlines:
    """The requests running in this process, and what to do with the late ones."""

    def __init__(self, seconds: float, grace: float = 10.0) -> None:
        self.seconds, self.grace = seconds, grace
        self.running: dict[int, _Running] = {}
        self.lock = threading.Lock()

    def begin(self, path: str) -> None:
        with self.lock:
            self.running[threading.get_ident()] = _Running(path, time.monotonic())

    def end(self) -> None:
        ident = threading.get_ident()
        with self.lock:
            request = self.running.pop(ident, None)
            if request is not None and request.interrupted_at is not None:
                _raise_in(ident, None)  # an interruption not yet delivered is void

    def check(self, now: float) -> list[str]:
        """Interrupt the requests past their deadline; the paths of those that
        were interrupted and are still running after the grace."""
        stuck = []
        with self.lock:
            for ident, request in self.running.items():
                if request.interrupted_at is None and now - request.started > self.seconds:
                    request.interrupted_at = now
                    log.error("web: %s ran over %.0f s; interrupting it", request.path,
                              self.seconds)
                    _raise_in(ident, RequestDeadline)
                elif (request.interrupted_at is not None
                      and now - request.interrupted_at > self.grace):
                    stuck.append(request.path)
        return stuck

    def watch(self, interval: float = 1.0) -> None:
        """The watchdog's loop (a daemon thread of each worker process)."""
        while True:
            time.sleep(interval)
            stuck = self.check(time.monotonic())
            if stuck:
                log.critical("web: %s still running %.0f s after its deadline; this worker "
                             "exits and gunicorn starts another", ", ".join(stuck), self.grace)
                logging.shutdown()
                os._exit(EXIT_STATUS)

    def start_watchdog(self) -> None:
        threading.Thread(target=self.watch, name="request-deadline", daemon=True).start()


def _raise_in(ident: int, exception: type[BaseException] | None) -> None:
    """Have thread `ident` raise `exception` at its next Python instruction; with
    None, take back one not raised yet (an empty py_object is C's NULL)."""
    pending = ctypes.py_object(exception) if exception else ctypes.py_object()
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), pending)


class DeadlineMiddleware:
    """WSGI middleware that times the application call of every request."""

    def __init__(self, application: Callable, deadlines: Deadlines) -> None:
        self.application, self.deadlines = application, deadlines

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        self.deadlines.begin(environ.get("PATH_INFO", ""))
        try:
            return self.application(environ, start_response)
        except RequestDeadline:
            connections.close_all()  # this thread's, left mid-statement
            return self._late(start_response)
        finally:
            self.deadlines.end()

    def _late(self, start_response: Callable) -> list[bytes]:
        body = (f"the request took longer than {self.deadlines.seconds:.0f} s and was "
                "stopped\n").encode()
        start_response("503 Service Unavailable", [
            ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
            ("Connection", "close")], None)
        return [body]
