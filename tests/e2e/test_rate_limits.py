"""GitHub's secondary rate limit: the interpreter step is re-queued, never slept on."""

import pytest

from bot.core.faults import FAULT_EXIT_STATUS
from bot.core.records import JobState
from bot.emulator.world import World
from tests.e2e.conftest import ONE_OF_EACH, effects_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_a_rate_limited_apply_is_rescheduled_with_githubs_delay(box: World) -> None:
    box.start_server(workers=0)
    proposer = box.start_worker("proposer", fault="after_proposal")
    box.comment(box.open_issue(), "/farcaster rename net_price price_without_tax")
    proposer.wait(timeout=60)
    assert proposer.returncode == FAULT_EXIT_STATUS
    job = box.only_job()
    box.start_worker("sweeper")  # the 👀 reaction first, so the limit hits the interpreter
    box.wait_for_outbox()
    box.stop_worker("sweeper")
    attempts_before = box.store.get(job.id).attempts
    box.gh.rate_limit(1, retry_after=2)  # the next content-creating call gets 403 + retry-after

    box.start_worker("applier")
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=60)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    events = box.store.events(job.id)
    limited = [e for e in events if e.kind == "rate_limited"]
    assert len(limited) == 1 and limited[0].data["delay"] == pytest.approx(2.0)
    assert not any(e.kind == "attempt_failed" for e in events)
    # Waiting for GitHub is not a failed attempt, and neither claim of the apply spent one.
    claims_after = sum(1 for e in events if e.kind == "claimed" and e.data["phase"] == "apply")
    assert claims_after == 2 and job.attempts == attempts_before == 0
    refused = box.gh.journal(status=403)
    assert len(refused) == 1
    assert effects_of(box, job) == ONE_OF_EACH
