"""The intake app's job in the worker (atalaia/lib/jobs.py)."""

from atalaia.intake.grouping import group_signals
from atalaia.lib import jobs


def register() -> None:
    jobs.register("intake.group_signals", group_signals)
