"""The foundation's vocabularies: phases derived from states, permissions ranked once."""

import pytest

from bot.core.permissions import Permission, at_least
from bot.core.records import JobState, Phase
from bot.core.vocab import EventKind, PrOutcome


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        (JobState.QUEUED, Phase.RUN),
        (JobState.RUNNING, Phase.RUN),
        (JobState.PROPOSED, Phase.APPLY),
        (JobState.APPLYING, Phase.APPLY),
    ],
)
def test_a_waiting_or_leased_job_is_in_the_phase_of_its_state(
    state: JobState, phase: Phase
) -> None:
    assert Phase.of(state) is phase


@pytest.mark.parametrize("state", [s for s in JobState if s.is_final or s is JobState.PLANNED])
def test_a_finished_or_planned_job_is_in_no_phase(state: JobState) -> None:
    with pytest.raises(ValueError, match="no phase"):
        Phase.of(state)


def test_permissions_rank_from_none_to_admin() -> None:
    ranked = ["none", "read", "triage", "write", "maintain", "admin"]
    for i, held in enumerate(ranked):
        assert [at_least(held, Permission(m)) for m in ranked] == [j <= i for j in range(6)]


def test_a_permission_word_github_does_not_use_grants_nothing() -> None:
    assert not at_least("superuser", Permission.READ)
    assert at_least("superuser", Permission.NONE)


def test_a_pull_request_outcome_names_its_event() -> None:
    assert PrOutcome.MERGED.event is EventKind.PR_MERGED
    assert PrOutcome.CLOSED_BY_HUMAN.event is EventKind.PR_CLOSED_BY_HUMAN


def test_vocabularies_compare_equal_to_the_stored_strings() -> None:
    # Stored as values: rows written before the types existed read back unchanged.
    assert EventKind("claimed") is EventKind.CLAIMED
    assert EventKind.CLAIMED == "claimed"
