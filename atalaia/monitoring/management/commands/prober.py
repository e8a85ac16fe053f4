from django.core.management.base import BaseCommand

from atalaia.lib.loop import Loop


def probe_step() -> float:
    """One turn of the prober: run due checks. Returns the pause before the next.

    Monitors come with the detection work; the process, its heartbeat and its
    clean stop are real.
    """
    return 1.0


class Command(BaseCommand):
    help = "Run the prober (optionally for a named location)."

    def add_arguments(self, parser):
        parser.add_argument("--location", default="default")

    def handle(self, *args, location, **options):
        import os
        import socket

        Loop("prober", probe_step,
             name=f"prober[{location}]@{socket.gethostname()}:{os.getpid()}").run()
