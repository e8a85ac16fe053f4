"""The allowed moves of an incident's stage and public status (docs/incidents.md).

Pure rules, no database: the actions call these before changing anything.
"""

from atalaia.incidents.models import Phase, PublicStatus, Stage

S, P = Stage, PublicStatus

STAGE_MOVES: dict[str, set[str]] = {
    S.ASSESSMENT: {S.RESPONSE, S.RESOLUTION},
    S.RESPONSE: {S.RESOLUTION},
    # Back to response is the one backward move: the fix did not hold.
    S.RESOLUTION: {S.REVIEW, S.RESPONSE},
    S.REVIEW: {S.CLOSED},
    S.CLOSED: set(),
}

# Which phase windows a stage move ends, and which it starts (or reopens).
# Going back from resolution to response reopens the response window and
# leaves the resolution window open: resolution goes on until review.
STAGE_PHASES: dict[str, tuple[list[str], list[str]]] = {
    S.RESPONSE: ([Phase.ASSESSMENT], [Phase.RESPONSE]),
    S.RESOLUTION: ([Phase.ASSESSMENT, Phase.RESPONSE], [Phase.RESOLUTION]),
    S.REVIEW: ([Phase.RESOLUTION], [Phase.REVIEW]),
    S.CLOSED: ([Phase.REVIEW], []),
}


class IllegalMove(ValueError):
    """A move the rules do not allow; the message says why."""


def check_stage_move(stage: str, public_status: str, target: str,
                     review_completed: bool = False) -> None:
    if target not in S.values:
        raise IllegalMove(f"unknown stage {target!r}")
    if target == stage:
        raise IllegalMove(f"the incident is already in {stage}")
    if target not in STAGE_MOVES[stage]:
        allowed = ", ".join(sorted(STAGE_MOVES[stage])) or "none (closed)"
        raise IllegalMove(f"cannot move from {stage} to {target}; allowed: {allowed}")
    if target == S.CLOSED and not review_completed:
        raise IllegalMove("the incident closes only when its review is completed")
    if target == S.REVIEW and public_status != P.RESOLVED:
        raise IllegalMove("review starts only after the public status is resolved")
    if target == S.RESPONSE and public_status == P.RESOLVED:
        raise IllegalMove("the public status says resolved: reopen it (investigating, "
                          "identified or monitoring) before going back to response")


def check_status_move(stage: str, public_status: str, target: str) -> None:
    if target not in P.values:
        raise IllegalMove(f"unknown public status {target!r}")
    if target == public_status:
        raise IllegalMove(f"the public status is already {target}")
    if stage in (S.REVIEW, S.CLOSED):
        raise IllegalMove(f"the public status cannot change once the incident is in {stage}")
    if target == P.RESOLVED and stage != S.RESOLUTION:
        raise IllegalMove("resolved is allowed only in the resolution stage "
                          f"(the incident is in {stage})")
