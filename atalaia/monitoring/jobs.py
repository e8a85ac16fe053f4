"""The monitoring app's jobs in the worker (atalaia/lib/jobs.py)."""

from atalaia.lib import jobs
from atalaia.monitoring.heartbeats import check_deadlines
from atalaia.monitoring.rollups import prune_raw, roll_up
from atalaia.monitoring.transitions import settle_flapping


def register() -> None:
    jobs.register("monitoring.heartbeat_deadlines", check_deadlines)
    jobs.register("monitoring.settle_flapping", settle_flapping, every=jobs.HOUSEKEEPING_SECONDS)
    jobs.register("monitoring.roll_up", roll_up, every=jobs.HOUSEKEEPING_SECONDS)
    jobs.register("monitoring.prune_raw", prune_raw, every=jobs.HOUSEKEEPING_SECONDS)
