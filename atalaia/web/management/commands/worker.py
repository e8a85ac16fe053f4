"""`atalaia worker`: the jobs every app registers (atalaia/lib/jobs.py), lane by lane.

The paging lane (escalation steps, page deliveries) runs in the main thread with
the heartbeat; the general lane (everything else) in a thread of its own, with its
own database connection. So a webhook that trickles, a slow export or a broken job
in the general lane delays no page, and the heartbeat goes on meanwhile.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from atalaia.lib import jobs
from atalaia.lib.jobs import HOUSEKEEPING_SECONDS, Runner
from atalaia.lib.loop import Loop
from atalaia.web.health import beat

__all__ = ["HOUSEKEEPING_SECONDS", "lane_step", "work_step", "worker_loop"]

_turns = {lane: Runner(lane) for lane in jobs.LANES}


def lane_step(lane: str):
    """One turn of one lane, as a loop step: returns the pause before the next."""
    runner = Runner(lane)

    def step() -> float:
        return 0.0 if runner.turn() else settings.WORKER_POLL_SECONDS

    return step


def work_step() -> float:
    """One turn of every lane, one after the other (tests, and `work_step` users):
    claim and run the due work of every job. Returns the pause before the next."""
    handled = sum(_turns[lane].turn() for lane in (jobs.GENERAL, jobs.PAGING))
    return 0.0 if handled else settings.WORKER_POLL_SECONDS


class Command(BaseCommand):
    help = ("Run the worker: every app's jobs (signal grouping, escalations, deliveries, "
            "broadcasts, roll-ups …), with paging in a lane of its own.")

    def handle(self, *args, **options):
        worker_loop().run()


def worker_loop() -> Loop:
    """The paging lane and the heartbeat in the calling thread, the general lane beside."""
    loop = Loop("worker", lane_step(jobs.PAGING), beat=beat)
    loop.beside("general-lane", lane_step(jobs.GENERAL))
    return loop
