"""Confirmation against false alarms, as plain functions of the results.

Each probe location keeps a tally of one monitor's recent results and casts a
vote: down only after N consecutive failed checks, back up (or degraded) only
after M consecutive checks that were not down; up ⇄ degraded needs N slow checks
one way and M normal ones back. The monitor's state is the quorum of the
locations' fresh votes: down when K locations (or all that report, if fewer
do) vote down.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

UP, DEGRADED, DOWN, UNKNOWN = "up", "degraded", "down", "unknown"


@dataclass(frozen=True)
class Tally:
    vote: str = UNKNOWN
    failures: int = 0  # consecutive down results
    successes: int = 0  # consecutive results that were not down
    slow: int = 0  # consecutive degraded results
    healthy: int = 0  # consecutive up results


def tally(before: Tally, result: str, failures_to_down: int, successes_to_up: int) -> Tally:
    """The tally after one more result (UP, DEGRADED or DOWN)."""
    down = result == DOWN
    after = replace(before, failures=before.failures + 1 if down else 0,
                    successes=0 if down else before.successes + 1,
                    slow=before.slow + 1 if result == DEGRADED else 0,
                    healthy=before.healthy + 1 if result == UP else 0)
    vote = before.vote
    if after.failures >= failures_to_down:
        vote = DOWN
    elif down:
        pass  # a failure not yet confirmed changes nothing
    elif vote == UNKNOWN:
        vote = result  # the first answer after a start needs no confirmation
    elif vote == DOWN:
        vote = result if after.successes >= successes_to_up else DOWN
    elif vote == UP and after.slow >= failures_to_down:
        vote = DEGRADED
    elif vote == DEGRADED and after.healthy >= successes_to_up:
        vote = UP
    return replace(after, vote=vote)


def confirmed(current: Tally) -> bool:
    """Whether the last results agree with the vote (otherwise the prober checks
    again at the retry interval to confirm or dismiss the change sooner)."""
    if current.vote == DOWN:
        return current.successes == 0
    return current.failures == 0 and not (current.vote == UP and current.slow) \
        and not (current.vote == DEGRADED and current.healthy)


@dataclass(frozen=True)
class Verdict:
    state: str
    message: str


def quorum(votes: dict[str, tuple[str, str]], required: int) -> Verdict | None:
    """The monitor's state from the fresh votes {location: (vote, message)}; None
    when no location has an opinion yet."""
    known = {loc: v for loc, v in votes.items() if v[0] != UNKNOWN}
    if not known:
        return None
    down = sorted(loc for loc, (vote, _) in known.items() if vote == DOWN)
    needed = min(max(required, 1), len(known))
    if len(down) >= needed:
        return Verdict(DOWN, _where(known, down, len(known)))
    degraded = sorted(loc for loc, (vote, _) in known.items() if vote == DEGRADED)
    if degraded:
        return Verdict(DEGRADED, _where(known, degraded, len(known)))
    note = f" ({len(down)} of {len(known)} locations see it down; {needed} needed)" \
        if down else ""
    up = sorted(loc for loc, (vote, _) in known.items() if vote == UP)
    return Verdict(UP, known[up[0]][1] + note)


def _where(known: dict[str, tuple[str, str]], locations: list[str], total: int) -> str:
    message = known[locations[0]][1]
    if total == 1:
        return message
    return f"{message} (from {len(locations)} of {total} locations: {', '.join(locations)})"
