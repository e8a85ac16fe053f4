"""The outbox's job in the worker (atalaia/lib/jobs.py): every delivery whose
purpose is not routed to another lane (pages go in the paging lane)."""

from atalaia.lib import jobs
from atalaia.notify import outbox


def send_deliveries() -> int:
    return outbox.send_due(lane=jobs.GENERAL)


def register() -> None:
    jobs.register("notify.deliveries", send_deliveries)
