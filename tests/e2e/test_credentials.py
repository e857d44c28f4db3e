"""Expired installation tokens heal themselves: a 401 mints a new token, nothing is final."""

import pytest

from bot.core.records import JobState
from bot.emulator.world import World
from tests.e2e.conftest import ONE_OF_EACH, effects_of

pytestmark = pytest.mark.e2e


def test_tokens_expired_by_the_clock_are_replaced_and_every_job_ends_done(box: World) -> None:
    box.start_server(workers=1)
    first = box.open_issue()
    box.comment(first, "/farcaster rename net_price price_without_tax")
    done = box.wait_for_state(box.only_job().id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert done.state is JobState.DONE, done.last_error
    box.wait_for_outbox()
    minted_before = len(box.gh.journal(method="POST", status=201, contains="access_tokens"))

    # Two hours later on GitHub's clock: the token serve cached is refused with 401.
    box.gh.set_clock(advance_seconds=2 * 3600)
    later = box.open_issue("Rename the basket too")
    sent = box.comment(later, "/farcaster rename Basket ShoppingBasket")
    assert sent["delivery"]["status"] == 202

    jobs = [job for job in box.jobs() if job.id != done.id]
    assert len(jobs) == 1
    job = box.wait_for_state(jobs[0].id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    assert effects_of(box, job) == ONE_OF_EACH
    assert effects_of(box, done) == ONE_OF_EACH
    refused = box.gh.journal(status=401)
    assert refused, "the expired token was never sent: the test proves nothing"
    minted_after = len(box.gh.journal(method="POST", status=201, contains="access_tokens"))
    assert minted_after == minted_before + 1  # one new token, kept for the calls after it
    assert not any(e.kind == "attempt_failed" for e in box.store.events(job.id))
