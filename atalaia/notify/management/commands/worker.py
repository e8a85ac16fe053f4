from django.core.management.base import BaseCommand

from atalaia.lib.loop import Loop


def work_step() -> float:
    """One turn of the worker: claim and run due work. Returns the pause before the next.

    No kind of durable work exists yet (deliveries and escalation steps come
    with paging); the process, its heartbeat and its clean stop are real.
    """
    return 1.0


class Command(BaseCommand):
    help = "Run the worker: deliveries, escalations and other due work."

    def handle(self, *args, **options):
        Loop("worker", work_step).run()
