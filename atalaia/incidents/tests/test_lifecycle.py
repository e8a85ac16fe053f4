"""A Hypothesis state machine drives random stage and status moves through the
actions and checks the invariants after every step."""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from atalaia.incidents import chain, gate
from atalaia.incidents.actions import IllegalMove, declare_incident, move_stage, set_public_status
from atalaia.incidents.lifecycle import STAGE_MOVES
from atalaia.incidents.models import Incident, Phase, PublicStatus, Stage

ORDER = list(Stage.values)


@pytest.mark.slow
def test_random_moves_keep_the_invariants(demo, personas):
    commander = personas["commander"]

    class Lifecycle(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.incident = declare_incident(commander, "Random walk", ["cache"])
            # The verification gate and the review have their own tests: here they
            # are out of the way (forced; a review is never completed, so never closed).
            gate.force(self.incident, personas["admin"], "random walk")
            self.stage, self.status = Stage.ASSESSMENT, PublicStatus.INVESTIGATING
            self.stages_seen = [self.stage]

        @rule(goal=st.sampled_from(Stage.values))
        def stage_move(self, goal):
            target = goal
            legal = target in STAGE_MOVES[self.stage] and target != Stage.CLOSED and not (
                target == Stage.REVIEW and self.status != PublicStatus.RESOLVED) and not (
                target == Stage.RESPONSE and self.status == PublicStatus.RESOLVED)
            try:
                move_stage(self.incident, commander, target)
            except IllegalMove:
                assert not legal, f"{self.stage} -> {target} refused but legal"
            else:
                assert legal, f"{self.stage} -> {target} accepted but illegal"
                backwards = ORDER.index(target) < ORDER.index(self.stage)
                assert not backwards or (self.stage, target) == (Stage.RESOLUTION,
                                                                  Stage.RESPONSE)
                self.stage = target
                self.stages_seen.append(target)

        @rule(goal=st.sampled_from(PublicStatus.values))
        def status_move(self, goal):
            target = goal
            legal = target != self.status and self.stage not in (Stage.REVIEW, Stage.CLOSED) \
                and (target != PublicStatus.RESOLVED or self.stage == Stage.RESOLUTION)
            try:
                set_public_status(self.incident, commander, target)
            except IllegalMove:
                assert not legal, f"status {self.status} -> {target} refused but legal"
            else:
                assert legal, f"status {self.status} -> {target} accepted but illegal"
                self.status = target

        @invariant()
        def stored_state_matches(self):
            stored = Incident.objects.get(pk=self.incident.pk)
            assert (stored.stage, stored.public_status) == (self.stage, self.status)
            assert stored.communication_open == (self.status != PublicStatus.RESOLVED)

        @invariant()
        def phase_times_are_monotonic(self):
            for window in self.incident.phases.all():
                assert window.ended_at is None or window.started_at <= window.ended_at
            windows = {w.phase: w for w in self.incident.phases.all()}
            assert windows[Phase.ASSESSMENT].started_at == self.incident.declared_at
            if Phase.REVIEW in windows:
                assert windows[Phase.REVIEW].started_at >= windows[Phase.RESOLUTION].started_at

        @invariant()
        def timeline_chain_is_valid(self):
            assert chain.verify(Incident.objects.get(pk=self.incident.pk)) is None

    Lifecycle.TestCase.settings = settings(max_examples=25, stateful_step_count=20,
                                           derandomize=True,
                                           deadline=None,
                                           suppress_health_check=list(HealthCheck))
    Lifecycle.TestCase().runTest()
