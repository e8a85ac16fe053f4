"""The remote app's job in the worker (atalaia/lib/jobs.py)."""

from atalaia.lib import jobs
from atalaia.remote.actions import run_due


def register() -> None:
    jobs.register("remote.due_runs", run_due)
