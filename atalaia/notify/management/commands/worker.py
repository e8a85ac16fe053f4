import time

from django.conf import settings
from django.core.management.base import BaseCommand

from atalaia.comms import reminders
from atalaia.comms.actions import run_maintenances
from atalaia.comms.broadcasts import expand_due
from atalaia.comms.export import refresh as refresh_export
from atalaia.intake.grouping import group_signals
from atalaia.lib.loop import Loop
from atalaia.monitoring.heartbeats import check_deadlines
from atalaia.monitoring.rollups import prune_raw, roll_up
from atalaia.monitoring.transitions import settle_flapping
from atalaia.notify.outbox import send_due
from atalaia.oncall.handoffs import send_notices
from atalaia.oncall.paging import step_due
from atalaia.remote.actions import run_due
from atalaia.web.health import watchdog_step

# Roll-ups, pruning and the end of flapping are a matter of minutes: a look
# every 15 seconds is enough.
HOUSEKEEPING_SECONDS = 15.0
_next_housekeeping = 0.0


def work_step() -> float:
    """One turn of the worker: claim and run due work. Returns the pause before the next.

    Mark late heartbeats down, group new signals into incidents, move due
    escalations on, expand broadcasts into deliveries, send due deliveries, export
    the status site after a change; now and then end flapping that settled, roll
    results up, prune old ones, send on-call handoff notices, start and complete
    scheduled maintenance and remind communicators of late updates; ping the
    watchdog URL while every part is alive.
    """
    handled = (check_deadlines() + group_signals() + step_due() + expand_due() + send_due()
               + refresh_export() + run_due())
    watchdog_step()
    global _next_housekeeping
    if time.monotonic() >= _next_housekeeping:
        _next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        handled += settle_flapping() + roll_up() + prune_raw() + send_notices()
        handled += run_maintenances() + reminders.late_updates() + reminders.maintenance_soon()
    return 0.0 if handled else settings.WORKER_POLL_SECONDS


class Command(BaseCommand):
    help = "Run the worker: signal grouping, escalations, deliveries, roll-ups."

    def handle(self, *args, **options):
        Loop("worker", work_step).run()
