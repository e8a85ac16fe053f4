"""`atalaia run`: web, worker and prober as one process group on one machine."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

PARTS = (["web"], ["worker"], ["prober"])


class Command(BaseCommand):
    help = ("Run web server, worker and prober (and the demo's mail catcher when "
            "ATALAIA_MAILCATCHER_PORT is set) together; stop them all on SIGTERM.")

    def handle(self, *args, **options):
        children: dict[tuple, subprocess.Popen] = {}
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        restarts: dict[tuple, list[float]] = {}
        parts = [*PARTS, ["mailcatcher"]] if settings.MAILCATCHER_PORT else PARTS
        for part in parts:
            children[tuple(part)] = self._start(part)
        while not stopping:
            time.sleep(0.2)
            for part, child in list(children.items()):
                if child.poll() is None or stopping:
                    continue
                recent = [t for t in restarts.get(part, []) if time.monotonic() - t < 60]
                if len(recent) >= 5:
                    self.stderr.write(f"atalaia {part[0]} keeps failing; stopping everything")
                    stopping = True
                    break
                self.stderr.write(f"atalaia {part[0]} exited ({child.returncode}); restarting")
                restarts[part] = [*recent, time.monotonic()]
                children[part] = self._start(list(part))
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        self.stdout.write("atalaia stopped")

    def _start(self, part: list[str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "atalaia", *part], env=os.environ.copy())
