import time

from django.conf import settings
from django.core.management.base import BaseCommand

from atalaia.intake.grouping import group_signals
from atalaia.lib.loop import Loop
from atalaia.monitoring.heartbeats import check_deadlines
from atalaia.monitoring.rollups import prune_raw, roll_up
from atalaia.monitoring.transitions import settle_flapping
from atalaia.notify.outbox import send_due
from atalaia.web.health import watchdog_step

# Roll-ups, pruning and the end of flapping are a matter of minutes: a look
# every 15 seconds is enough.
HOUSEKEEPING_SECONDS = 15.0
_next_housekeeping = 0.0


def work_step() -> float:
    """One turn of the worker: claim and run due work. Returns the pause before the next.

    Today: mark late heartbeats down, group new signals into incidents, send due
    deliveries, end flapping that settled, and now and then roll results up and
    prune old ones; ping the watchdog URL while every part is alive.
    Escalation steps join with paging.
    """
    handled = check_deadlines() + group_signals() + send_due()
    watchdog_step()
    global _next_housekeeping
    if time.monotonic() >= _next_housekeeping:
        _next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        handled += settle_flapping() + roll_up() + prune_raw()
    return 0.0 if handled else settings.WORKER_POLL_SECONDS


class Command(BaseCommand):
    help = "Run the worker: signal grouping, roll-ups (and, later, deliveries and escalations)."

    def handle(self, *args, **options):
        Loop("worker", work_step).run()
