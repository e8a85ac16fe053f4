"""The run loop shared by the worker and the prober.

One step of work is a function that tests call directly; the loop only adds
the heartbeat and a clean stop on SIGTERM/SIGINT (the current step finishes,
nothing is cut in half).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

log = logging.getLogger("atalaia.loop")


class Loop:
    def __init__(self, kind: str, step: Callable[[], float], name: str | None = None):
        self.kind = kind
        self.step = step
        self.name = name or f"{kind}@{socket.gethostname()}:{os.getpid()}"
        self.stopping = threading.Event()

    def stop(self, *_args) -> None:
        self.stopping.set()

    def beat(self, stopped: bool = False) -> None:
        from atalaia.web.models import ProcessBeat

        now = timezone.now()
        ProcessBeat.objects.update_or_create(name=self.name, defaults={
            "kind": self.kind, "seen_at": now, "stopped_at": now if stopped else None},
            create_defaults={"kind": self.kind, "started_at": now, "seen_at": now})

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        log.info("%s started", self.name)
        next_beat = 0.0
        clock = timezone.now
        while not self.stopping.is_set():
            close_old_connections()
            if clock().timestamp() >= next_beat:
                self.beat()
                next_beat = clock().timestamp() + settings.HEARTBEAT_SECONDS
            try:
                pause = self.step()
            except Exception:
                # A failing step must not kill the process: it is logged and
                # retried on the next turn, and /healthz still shows it alive.
                log.exception("%s: step failed", self.name)
                pause = 1.0
            self.stopping.wait(min(pause, settings.HEARTBEAT_SECONDS))
        self.beat(stopped=True)
        log.info("%s stopped", self.name)
