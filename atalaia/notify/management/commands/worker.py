from django.conf import settings
from django.core.management.base import BaseCommand

from atalaia.intake.grouping import group_signals
from atalaia.lib.loop import Loop
from atalaia.monitoring.heartbeats import check_deadlines


def work_step() -> float:
    """One turn of the worker: claim and run due work. Returns the pause before the next.

    Today: mark late heartbeats down, then group new signals into incidents.
    Deliveries and escalation steps join with paging.
    """
    handled = check_deadlines() + group_signals()
    return 0.0 if handled else settings.WORKER_POLL_SECONDS


class Command(BaseCommand):
    help = "Run the worker: signal grouping (and, later, deliveries and escalations)."

    def handle(self, *args, **options):
        Loop("worker", work_step).run()
