"""``farcaster worker``'s side tasks, in the order one round runs them: triage decides the
stored command, the drain sends its 👀 reaction and the status comment's ``queued`` body,
and only then does the round claim the job (bot/app/workers.py)."""

import httpx

from bot.app.workers import build_worker_loop
from bot.core.records import JobState, Phase
from tests.integration.test_intake_support import API, REPO, Intake, comment_payload
from tests.worker_round import one_round

COMMENTS = f"{API}/repos/{REPO}/issues/1/comments"


def test_one_round_sends_the_queued_status_comment_before_it_claims_the_job(
    intake: Intake,
) -> None:
    mock = intake.github.mock
    mock.get(COMMENTS).respond(200, json=[])
    posted = mock.post(COMMENTS)
    posted.side_effect = lambda request: httpx.Response(201, json={"id": 77, "body": ""})
    reacted = mock.post(url__regex=r".*/issues/comments/\d+/reactions$").respond(201, json={})
    assert intake.send(comment_payload("/farcaster rename a b")).status_code == 202

    claimed: list[JobState] = []
    loop = build_worker_loop(
        intake.runtime,
        worker_id="w1",
        handlers={Phase.RUN: lambda services, lease, guard: claimed.append(lease.job.state)},
    )
    assert loop.run_side_tasks() >= 2  # the delivery decided, then its feedback sent
    assert reacted.call_count == 1
    (first,) = [call.request for call in posted.calls]
    assert "· queued" in first.content.decode()

    assert one_round(loop) == 1  # the claim comes after, in the same round
    assert claimed == [JobState.RUNNING]
