"""The job's one status comment while it works: queued, running, applying (the
``status_comment`` outbox handler).

The store queues an edit when the job is created (queued) and when a worker claims it
(running, applying), each an outbox item keyed by job and state, so a replay or a crash
never edits it twice for one state (bot/store/store.py). Handling an item edits the bot's
comment holding the job's marker, or posts it when there is none yet; the interpreter's
final write (the PR, the plan) and the tombstone or cancel report edit that same comment.

An item is a no-op (done, nothing written) when:

- the job is no longer in the item's state: a later phase's edit, or the final write,
  owns the comment now, and an edit must never take it back to an earlier phase;
- the job waits out a rate limit, pacing or a backoff (``scheduled``): the comment is not
  edited while the wait is pending, and the next phase's edit says what happens;
- the interpreter has recorded its final write already.

The interpreter handles its own ``applying`` item once the diff validates, before its first
write (:func:`show_applying`), unless a drainer holds it already; so the applying edit comes before
the final one even when the apply is quicker than the drainer's next round.
"""

import time

from bot.core.records import Job, JobState, display_state
from bot.core.vocab import OutboxKind
from bot.store.outbox import OutboxItem, status_comment_key
from bot.worker.outbox import OutboxHandler, run_item
from bot.worker.services import Services, github_for
from proposals import effects, reports
from proposals.effects import Repo


def handle_status_comment(services: Services, item: OutboxItem) -> None:
    if item.job_id is None:
        return
    store = services.store
    job = store.get(item.job_id)
    if not _still_shows(services, job, str(item.payload.get("state"))):
        return
    body = reports.progress_comment(job, prefix=services.settings.command_prefix)
    repo = Repo(github_for(services, job), job.owner, job.name)
    assert job.issue_number is not None  # _still_shows
    comment_id = effects.upsert_status_comment(
        repo, job.issue_number, job.id, body, known=job.comment_id
    )
    if comment_id != job.comment_id:
        store.set_job_fields(job.id, {"comment_id": comment_id})


def _still_shows(services: Services, job: Job, state: str) -> bool:
    """Whether the comment should say ``state`` now (see the module docstring)."""
    if job.issue_number is None or job.state.value != state:
        return False
    if display_state(job, time.time()) == "scheduled":
        return False
    return "comment" not in services.store.effects(job.id)


def show_applying(services: Services, job: Job, owner: str) -> None:
    """Run the job's ``applying`` edit now, if it is due and nobody holds it."""
    key = status_comment_key(job.id, JobState.APPLYING.value)
    for item in services.outbox.claim(owner, limit=1, key=key):
        run_item(services, item, STATUS_HANDLERS)


STATUS_HANDLERS: dict[str, OutboxHandler] = {OutboxKind.STATUS_COMMENT: handle_status_comment}
