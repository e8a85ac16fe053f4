"""Group commit: the events of many intake requests in one transaction.

Each web process has one committer thread. A request thread hands over what it
received and waits; the committer takes everything waiting, looks up the
integrations, takes their events from the rate limiter, applies the events and
commits them together, then answers each request. Nobody gets an answer before
the commit, so nothing acknowledged is lost; but a commit, its statements and
SQLite's writer lock are shared by every request that arrived meanwhile, instead
of paid by each.

A caller already inside a transaction (a test, a management command) commits
with it instead: `submit` then runs the batch in its own thread.

A request that gives up waiting answers 503, which must mean "not stored, and
never will be": otherwise the client's retry of an event without a dedup key
makes a second signal. So each item is sealed by the committer just before its
transaction commits, and a caller can give up only on an unsealed item; an item
given up is left out of the commit (the batch is rolled back and written again
without it). Once sealed, the caller waits for the commit's own outcome.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from django.db import connection, transaction

from atalaia.accounts import limits
from atalaia.intake import actions
from atalaia.intake.formats.common import Event
from atalaia.intake.models import Integration
from atalaia.lib.crypto import sha256_hex

log = logging.getLogger("atalaia.intake")
# A batch takes at most this many requests; the rest wait for the next.
BATCH = 500
# A request gives up waiting after this long (the committer is stuck): 503.
WAIT_SECONDS = 30.0


@dataclass
class Item:
    """One request's worth: events (or one change) for the integration of `key`."""

    kinds: tuple[str, ...]  # the integration kinds this endpoint accepts
    key: str
    events: list[Event] = field(default_factory=list)
    change: dict | None = None
    future: Future = field(default_factory=Future)
    given_up: bool = False
    sealed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def count(self) -> int:
        return 1 if self.change is not None else len(self.events)

    def give_up(self) -> bool:
        """The caller stops waiting: True if the item will therefore never be
        written, False if it is already being committed (then wait for that)."""
        with self._lock:
            if not self.sealed:
                self.given_up = True
            return self.given_up

    def seal(self) -> bool:
        """The committer is about to commit the item: False if its caller gave up."""
        with self._lock:
            if not self.given_up:
                self.sealed = True
            return self.sealed


class GivenUp(Exception):
    """Items of a batch whose callers stopped waiting before it could commit."""

    def __init__(self, items: list[Item]) -> None:
        super().__init__(f"{len(items)} request(s) gave up waiting")
        self.items = items


@dataclass(frozen=True)
class Outcome:
    """What became of an item: accepted, or refused and why."""

    accepted: bool
    refusal: str = ""  # "unknown key", "rate", "error"
    retry_after: float = 0.0  # seconds, when refused for the rate


class Committer:
    def __init__(self) -> None:
        self.waiting: collections.deque[Item] = collections.deque()
        self.wakeup = threading.Condition()
        self.closing, self.closed = threading.Event(), threading.Event()
        self.pid = 0

    def submit(self, item: Item) -> Outcome:
        if connection.in_atomic_block:
            apply_batch([item])
            return item.future.result()
        self._ensure_thread()
        with self.wakeup:
            self.waiting.append(item)
            self.wakeup.notify()
        try:
            return item.future.result(timeout=WAIT_SECONDS)
        except TimeoutError:
            if item.give_up():
                return Outcome(False, "error")
            return item.future.result()  # sealed: its commit is under way

    def _ensure_thread(self) -> None:
        # A forked web worker starts its own committer: threads do not survive fork.
        if self.pid != os.getpid():
            with self.wakeup:
                if self.pid != os.getpid():
                    self.waiting.clear()
                    threading.Thread(target=self._run, name="intake-commit",
                                     daemon=True).start()
                    self.pid = os.getpid()

    def _run(self) -> None:
        while True:
            with self.wakeup:
                while not self.waiting and not self.closing.is_set():
                    self.wakeup.wait()
                batch = [self.waiting.popleft()
                         for _ in range(min(BATCH, len(self.waiting)))]
            batch = [item for item in batch if not item.given_up]  # seal() decides
            if batch:
                apply_batch(batch)
            elif self.closing.is_set():
                connection.close()
                self.closing.clear()
                self.closed.set()

    def close_connection(self, timeout: float = 10.0) -> None:
        """Have the committer close its database connection (it opens a new one for
        the next batch): before a test database is dropped, for instance."""
        if self.pid != os.getpid():
            return
        self.closed.clear()
        with self.wakeup:
            self.closing.set()
            self.wakeup.notify()
        self.closed.wait(timeout)


def apply_batch(items: list[Item]) -> None:
    """Commit the items together and answer each; if that fails, each on its own,
    so that one bad item costs only its own answer."""
    try:
        outcomes = _commit(items)
    except GivenUp as gone:
        _answer_given_up(gone.items)
        given_up = {id(item) for item in gone.items}
        rest = [item for item in items if id(item) not in given_up]
        if rest:
            apply_batch(rest)
        return
    except Exception:
        if len(items) == 1:
            log.exception("intake: committing an event failed")
            outcomes = [Outcome(False, "error")]
        else:
            for item in items:
                apply_batch([item])
            return
    for item, outcome in zip(items, outcomes, strict=True):
        item.future.set_result(outcome)


def _commit(items: list[Item]) -> list[Outcome]:
    with actions.one_writer(), transaction.atomic():
        integrations = _integrations(items)
        outcomes = _within_rates(items, integrations)
        for (source, integration), events in _events_by_source(
                items, integrations, outcomes).items():
            actions.apply_events(integration, source, events)
        for item, outcome in zip(items, outcomes, strict=True):
            if outcome.accepted and item.change is not None:
                actions.record_change(integrations[item.key], item.change)
        given_up = [item for item in items if not item.seal()]
        if given_up:
            raise GivenUp(given_up)  # rolls the batch back; it is written again without them
    return outcomes


def _answer_given_up(items: list[Item]) -> None:
    # Nobody reads these answers any more; they are set so that no future stays open.
    for item in items:
        item.future.set_result(Outcome(False, "error"))


def _integrations(items: list[Item]) -> dict[str, Integration]:
    """The live integration of each key (one query); keys of no integration left out."""
    digests = {sha256_hex(item.key): item.key for item in items if 0 < len(item.key) <= 64}
    found = Integration.objects.filter(key_digest__in=list(digests), disabled_at__isnull=True)
    return {digests[integration.key_digest]: integration for integration in found}


def _integration_of(item: Item, integrations: dict[str, Integration]) -> Integration | None:
    """The item's integration, if its key belongs to one of a kind the endpoint takes."""
    integration = integrations.get(item.key)
    return integration if integration is not None and integration.kind in item.kinds else None


def _within_rates(items: list[Item], integrations: dict[str, Integration]) -> list[Outcome]:
    """Take each integration's events from its bucket: all of the batch's at once (one
    statement per integration); when they are not all there, item by item in arrival
    order, so the first ones still pass, until one is refused (then so are the rest)."""
    outcomes, waiting = [], collections.defaultdict(list)
    for index, item in enumerate(items):
        integration = _integration_of(item, integrations)
        outcomes.append(Outcome(False, "unknown key") if integration is None else Outcome(True))
        if integration is not None:
            waiting[integration].append(index)
    for integration, indices in waiting.items():
        rule, key = actions.rate_rule(integration), str(integration.pk)
        if limits.take(rule, key, sum(items[i].count for i in indices)):
            continue
        refused: limits.Taken | None = None
        for i in indices:
            if refused is None:
                taken = limits.take(rule, key, items[i].count)
                refused = None if taken else taken
            if refused is not None:
                outcomes[i] = Outcome(False, "rate", refused.retry_after)
    return outcomes


def _events_by_source(items: list[Item], integrations: dict[str, Integration],
                      outcomes: list[Outcome]) -> dict[tuple[str, Integration], list[Event]]:
    grouped: dict[tuple[str, Integration], list[Event]] = {}
    for item, outcome in zip(items, outcomes, strict=True):
        if outcome.accepted and item.change is None:
            integration = integrations[item.key]
            grouped.setdefault((integration.kind, integration), []).extend(item.events)
    return grouped


committer = Committer()
submit: Callable[[Item], Outcome] = committer.submit
