"""The on-call app's jobs in the worker (atalaia/lib/jobs.py).

Escalation steps and the deliveries of pages run in the paging lane, which
nothing else shares: a slow subscriber webhook, a large export or a broken job
elsewhere cannot delay a page."""

from atalaia.lib import jobs
from atalaia.notify import outbox
from atalaia.oncall.handoffs import send_notices
from atalaia.oncall.paging import step_due

PAGE_PURPOSE = "page"


def send_pages() -> int:
    return outbox.send_due(lane=jobs.PAGING)


def register() -> None:
    outbox.route(PAGE_PURPOSE, jobs.PAGING)
    jobs.register("oncall.escalation_steps", step_due, lane=jobs.PAGING)
    jobs.register("oncall.page_deliveries", send_pages, lane=jobs.PAGING)
    jobs.register("oncall.handoff_notices", send_notices, every=jobs.HOUSEKEEPING_SECONDS)
