"""The run loop of the worker.

One step of work is a function that tests call directly; the loop only adds
the heartbeat and a clean stop on SIGTERM/SIGINT (the current step finishes,
nothing is cut in half). Other steps (the worker's other lanes) may run beside
the main one, each in a thread of its own, until the same stop.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections, connections
from django.utils import timezone

log = logging.getLogger("atalaia.loop")

# Reports the process alive: (name, kind, stopped). The app that keeps the
# heartbeats (web) passes it in, so that this module imports no app.
Beat = Callable[[str, str, bool], None]


class Loop:
    def __init__(self, kind: str, step: Callable[[], float], beat: Beat | None = None,
                 name: str | None = None):
        self.kind = kind
        self.step = step
        self.report = beat
        self.name = name or f"{kind}@{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()
        self._beside: list[threading.Thread] = []

    def stop(self, *_args) -> None:
        self.stopping.set()

    def beat(self, stopped: bool = False) -> None:
        if self.report is not None:
            self.report(self.name, self.kind, stopped)

    def beside(self, name: str, step: Callable[[], float]) -> None:
        """Run `step` in a thread of its own (its own database connection) while the
        loop runs; `run` waits for its current step before returning."""
        thread = threading.Thread(target=self._turns, args=(name, step), name=name, daemon=True)
        self._beside.append(thread)

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        self.serve()

    def serve(self) -> None:
        """Turn the steps until `stop`; returns once every lane finished its turn."""
        log.info("%s started", self.name)
        for thread in self._beside:
            thread.start()
        next_beat = 0.0
        clock = timezone.now
        while not self.stopping.is_set():
            close_old_connections()
            if clock().timestamp() >= next_beat:
                self.beat()
                next_beat = clock().timestamp() + settings.HEARTBEAT_SECONDS
            self._wait(self._turn(self.name, self.step))
        for thread in self._beside:
            thread.join()
        self.beat(stopped=True)
        log.info("%s stopped", self.name)

    def _turns(self, name: str, step: Callable[[], float]) -> None:
        try:
            while not self.stopping.is_set():
                close_old_connections()
                self._wait(self._turn(name, step))
        finally:
            connections.close_all()

    def _turn(self, name: str, step: Callable[[], float]) -> float:
        try:
            return step()
        except Exception:
            # A failing step must not kill the process: it is logged and
            # retried on the next turn, and /healthz still shows it alive.
            log.exception("%s: step failed", name)
            return 1.0

    def _wait(self, pause: float) -> None:
        self.stopping.wait(min(pause, settings.HEARTBEAT_SECONDS))
