"""The communication app's jobs in the worker (atalaia/lib/jobs.py)."""

from atalaia.comms import export, reminders
from atalaia.comms.actions import run_maintenances
from atalaia.comms.broadcasts import expand_due
from atalaia.lib import jobs


def register() -> None:
    jobs.register("comms.expand_broadcasts", expand_due)
    jobs.register("comms.export_status_site", export.refresh)
    jobs.register("comms.maintenances", run_maintenances, every=jobs.HOUSEKEEPING_SECONDS)
    jobs.register("comms.late_update_reminders", reminders.late_updates,
                  every=jobs.HOUSEKEEPING_SECONDS)
    jobs.register("comms.maintenance_reminders", reminders.maintenance_soon,
                  every=jobs.HOUSEKEEPING_SECONDS)
