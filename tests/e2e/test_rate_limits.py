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
    # The next two content-creating calls get 403 + retry-after: the status comment's
    # "applying" edit (an outbox item: postponed, the job goes on), then the interpreter's
    # first write (the job waits as scheduled).
    box.gh.rate_limit(2, retry_after=2)

    box.start_worker("applier")
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=60)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    events = box.store.events(job.id)
    limited = [e for e in events if e.kind == "rate_limited"]
    assert len(limited) == 1 and limited[0].data["delay"] == pytest.approx(2.0)
    assert not any(e.kind == "attempt_failed" for e in events)
    # Waiting for GitHub (or for pacing) is not a failed attempt: however often the apply
    # was claimed, the job spent none of its attempts.
    claims_after = sum(1 for e in events if e.kind == "claimed" and e.data["phase"] == "apply")
    assert claims_after >= 2 and job.attempts == attempts_before == 0
    refused = box.gh.journal(status=403)
    assert len(refused) == 2 and "/comments" in refused[0]["path"], refused
    assert effects_of(box, job) == ONE_OF_EACH
