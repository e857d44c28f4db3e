"""The outbox handler for ``job_report``: tell the issue that a job stopped.

The store queues one item in the same transaction that tombstones or cancels a job, so the
report survives a crash right after the decision. Handling it:

1. rewrites the job's status comment (found by its marker) as the tombstone or cancel
   report, posting it only if the job never had one, and records the comment's id on the
   tombstone;
2. concludes the job's check runs ``failure`` (tombstone) or ``cancelled``, with the same
   text; a job that never had a check run gets one on its base SHA, so the stop is visible.
   A job its tests stopped (``verify_failed``) titles the run with the tests' line and
   annotates the new failures.

Its writes are paced together (one allowance of three tokens, bot/store/pacing.py): when
the bucket cannot cover them the item waits before writing anything, instead of posting
the comment, stopping at the check run, and repeating the comment on every retry.

Idempotent: running it again edits the same comment and check runs to the same content.
A job that moved on before the item ran (a maintainer retried it) is left alone; its new
attempt owns the comment now.
"""

from bot.core.records import Job, JobState
from bot.core.verdict import verdict_from_json
from bot.store.outbox import OutboxItem
from bot.store.pacing import allowance
from bot.worker.services import Services, github_for
from proposals import effects, reports
from proposals import verdict as verdict_report
from proposals.effects import Repo

CHECK_RUN_STEPS = ("plan_check_run", "check_run")


def handle_job_report(services: Services, item: OutboxItem) -> None:
    if item.job_id is None:
        return
    store = services.store
    job = store.get(item.job_id)
    prefix = services.settings.command_prefix
    stopped_by_tests = False
    if job.state is JobState.TOMBSTONED:
        tombstone = store.tombstone(job.id)
        if tombstone is None:
            return
        body = reports.tombstone_report(job, tombstone, prefix=prefix)
        conclusion, title = "failure", f"Stopped: {tombstone.reason_code}"
        stopped_by_tests = tombstone.reason_code == "verify_failed"
    elif job.state is JobState.CANCELLED:
        body = reports.cancel_report(job, store.events(job.id), prefix=prefix)
        conclusion, title = "cancelled", "Cancelled"
    else:
        return
    # The comment, at most one check run created, and its conclusion: taken from the pacing
    # bucket together, so a retry cannot spend each refilled token on the comment again
    # and never reach the check run.
    with allowance(3):
        _publish(services, job, body, title, conclusion, stopped_by_tests)


def _publish(
    services: Services, job: Job, body: str, title: str, conclusion: str, stopped_by_tests: bool
) -> None:
    store = services.store
    repo = Repo(github_for(services, job), job.owner, job.name)
    if job.issue_number is not None:
        comment_id = effects.upsert_status_comment(
            repo, job.issue_number, job.id, body, known=job.comment_id
        )
        store.set_job_fields(job.id, {"comment_id": comment_id})
        if job.state is JobState.TOMBSTONED:
            store.set_tombstone_comment(job.id, comment_id)
    output = reports.check_report(title, body)
    if stopped_by_tests:
        output = _with_verdict(services, job, output)
    for run_id in _check_runs(services, repo, job):
        effects.conclude_check_run(repo, run_id, conclusion, output)


def _check_runs(services: Services, repo: Repo, job: Job) -> list[int]:
    """The job's check runs: those in its ledger, else one on its base SHA (found or made)."""
    ledger = services.store.effects(job.id)
    ids = {int(ledger[s].result["id"]) for s in CHECK_RUN_STEPS if s in ledger}
    if job.check_run_id is not None:
        ids.add(job.check_run_id)
    if ids or job.base_sha is None:
        return sorted(ids)
    output = reports.check_in_progress(job, prefix=services.settings.command_prefix)
    run_id = effects.find_or_create_check_run(repo, job.base_sha, job.id, output)
    services.store.set_job_fields(job.id, {"check_run_id": run_id})
    return [run_id]


def _with_verdict(services: Services, job: Job, output: reports.CheckOutput) -> reports.CheckOutput:
    """A job stopped by its tests: the check run's title is their line, with annotations."""
    proposal = services.store.latest_proposal(job.id)
    verdict = verdict_from_json(proposal.verify if proposal else None)
    if verdict is None:
        return output
    return reports.CheckOutput(
        f"Stopped: {verdict_report.title(verdict)}",
        output.summary,
        tuple(verdict_report.annotations(verdict)),
    )
