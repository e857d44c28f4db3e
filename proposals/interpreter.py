"""The interpreter: the only code that changes anything on GitHub.

It turns a job's stored proposal into one branch, one commit, one pull request, one check
run and one status comment, however often anything crashes or is retried. The status comment
says ``applying`` before the first write (proposals/progress.py) and holds the PR or the plan
at the end.

States. The worker loop claims a PROPOSED job into APPLYING (a lease and a fencing token)
and calls :func:`apply_job`, which ends the attempt itself with one fenced store call (a
completion goes through ``guard.complete``: the worker loop writes it, fenced, with the
completions of its other finished handlers)::

    APPLYING ─┬─ complete ─────────────────────────▶ DONE (the PR exists) | PLANNED (plan posted)
              ├─ requeue(RUN, "drift", new base) ───▶ QUEUED: the agent runs on the new head
              ├─ requeue(APPLY, "rate_limited") ────▶ PROPOSED, scheduled; spends no attempt
              ├─ requeue(APPLY, "paced") ───────────▶ the same, for our own write pacing
              ├─ requeue(APPLY, "proposal_changed") ▶ PROPOSED with an empty ledger
              └─ fail(non-retryable) ───────────────▶ TOMBSTONED, and a job_report outbox item

Steps, each recorded in the effects ledger before the next one starts, and skipped when
the ledger has it already: validate → drift check (before the first write, and again before
the branch unless the attempt checked already) → tree (in bounded chunks, each chunk
recorded: proposals/trees.py) → commit → ref → pull_request → pr_extras (labels and
reviewers from the repository's settings, when it names any) → check_run → comment →
complete. A plan:
validate → plan_check_run → comment → complete(PLANNED); it opens nothing.

A revision (``job.parent_id``, mode pr) commits on its parent's branch as a fast-forward
only and any move of that branch re-runs it; a refresh (mode refresh) force-moves the
parent's branch onto its commit only while every commit on it is the App's, else pauses
(:mod:`proposals.revisions`, :mod:`proposals.refresh`). Neither opens a pull request; both
read the parent's and write the parent's status comment.

Invariants.

1. Nothing reaches GitHub before the diff validates against the files at its base SHA.
2. Every create is either one GitHub itself refuses to duplicate (content-addressed git
   objects, a ref name, one open PR per head) or is preceded by a lookup (PR by head in
   every state, check run by ``external_id``, status comment by its marker).
3. Before each write the lease is renewed with the fencing token; a holder whose token is
   stale stops there. What remains is a single create call that outlasts a whole lease.
4. A branch at a commit Farcaster did not make is never moved; a PR a human closed is
   never reopened. The PR's state (open, closed, merged) is read from GitHub before the
   status comment is written, never taken from the ledger.
5. The ledger belongs to one proposal's content; when the agent proposed something else,
   the ledger is cleared and the job re-applied (the branch, being ours, is moved).

Failures.

- The diff is invalid, or the branch is someone else's: a non-retryable refusal propagates
  and the worker loop fails the attempt with it; the tombstone's report replaces the status
  comment (:mod:`proposals.job_report`).
- The proposal's verify verdict (stored by the runner, :mod:`bot.core.verdict`) says the
  tests must pass and they did not: ``verify_failed``, naming the new failures, before
  anything is written. When they need not pass, the PR opens as a draft and its check run
  concludes ``failure`` (``neutral`` if the tests could not be judged) with the failures
  as annotations.
- The base branch changed a file the diff touches: requeued to RUN on the new head, with a
  ``drift`` event naming the files. Changes elsewhere do not matter. An automatic refresh
  is the exception: it lands on the base it took (its ``drift_checked`` event names the
  files), because every push since has scheduled the refresh that follows it.
- GitHub rate limit: propagates; the worker loop requeues the step with GitHub's delay,
  which spends no attempt (bot/worker/loop.py); never a sleep inside the lease. Our own pacing
  of writes per installation (bot/store/pacing.py) does the same before a write is sent; the
  attempt declares about how many writes it will make, so it waits for a burst at a time.
- GitHub refuses a configured reviewer (422: not a collaborator, or the PR's author): a
  ``reviewers_refused`` event names them; the others are still requested and the PR stands.
- Any other GitHub error propagates; the worker loop fails the attempt (retrying it if the
  error is retryable). LeaseLost and StaleFencingToken propagate too: nothing more is written.
- A crash anywhere: the next claim replays, and the ledger and lookups make it converge.
"""

from dataclasses import asdict
from typing import Any

from bot.core import faults
from bot.core.errors import Refusal
from bot.core.records import Job, JobState, Lease, Phase
from bot.core.verdict import Verdict, verdict_from_json
from bot.core.vocab import EventKind, JobMode
from bot.store.pacing import allowance
from bot.worker.leases import LeaseGuard
from bot.worker.services import Services, github_for
from proposals import (
    drift,
    effects,
    policy,
    pr_extras,
    progress,
    refresh,
    reports,
    revisions,
    trees,
)
from proposals import verdict as verdict_report
from proposals.base_tree import BaseTree, fetch_base
from proposals.effects import Repo
from proposals.ledger import Ledger, TreeProgress, content_key
from proposals.reports import CheckOutput, PullInfo
from proposals.validation import FileChange, read_diff, touched_paths, validate

# A drift check this recent (on the database clock) still holds for the branch step.
DRIFT_FRESH_SECONDS = 60.0


def apply_job(services: Services, lease: Lease, guard: LeaseGuard) -> None:
    """The APPLY-phase handler (see the module docstring for what it promises)."""
    _Interpretation(services, lease, guard).run()


class _Interpretation:
    """One attempt at one job: the steps, in order, each recorded before the next."""

    def __init__(self, services: Services, lease: Lease, guard: LeaseGuard) -> None:
        self.services = services
        self.store = services.store
        self.job = lease.job
        self.owner = lease.owner
        self.guard = guard
        self.token = guard.token
        self.prefix = services.settings.command_prefix
        self.ledger = Ledger(self.store, self.job.id, self.token)
        self._drift_checked = False
        self.verdict: Verdict | None = None

    def _hold(self) -> None:
        """Renew the lease before writing to GitHub; stop if another holder has the job."""
        self.guard.check()
        if not self.store.heartbeat(self.job.id, self.token):
            self.guard.mark_lost("another worker holds the job now, or it left APPLYING")
            self.guard.check()

    def _step_done(self, point: str) -> None:
        faults.fault_point(point)
        self.guard.check()

    # -- the whole attempt ------------------------------------------------------------------

    def run(self) -> None:
        job = self.job
        proposal = self.store.latest_proposal(job.id)
        if proposal is None:
            raise Refusal(
                f"Job {job.id} has no stored proposal to apply.", reason_code="no_proposal"
            )
        self.proposal = proposal
        self.blocked = reports.blocked_egress(self.store.events(job.id), proposal.attempt)
        self.content = content_key(proposal)
        self.repo = Repo(github_for(self.services, job), job.owner, job.name, self._hold)
        if self.ledger.stale_for(self.content):
            self._restart_with_empty_ledger()
            return
        parsed = read_diff(proposal.diff)
        touched = touched_paths(parsed)
        base = fetch_base(
            self.repo.gh, job.owner, job.name, proposal.base_sha, [*touched, policy.CONFIG_PATH]
        )
        if base.from_api:
            # The tarball's bytes were not git's (export-subst, export-ignore, LFS): those
            # files were read through the API instead, so what is validated is git's.
            self.store.note(
                job.id,
                EventKind.BASE_READ_FROM_API,
                {"files": list(base.from_api[:20]), "count": len(base.from_api)},
                token=self.token,
            )
        self.config = policy.repo_config(base.files)
        files = {path: base.files[path] for path in touched if path in base.files}
        limits = policy.limits_for(job, self.services.settings, self.config)
        changes = validate(parsed, files, limits, base.links)
        policy.check_repo_allowed(changes, job, self.config)
        self.guard.check()
        progress.show_applying(self.services, job, self.owner)  # after validation (invariant 1)
        if job.mode is JobMode.PLAN:
            self._plan()
            return
        self.verdict = verdict_from_json(proposal.verify)
        if self.verdict is not None and self.verdict.blocks:
            raise Refusal(
                verdict_report.failure_sentence(self.verdict), reason_code="verify_failed"
            )
        branch = job.base_ref or str(self.repo.gh.get_repo(job.owner, job.name)["default_branch"])
        # Before the first write; an attempt resuming a paced tree checks before the branch.
        if self.ledger.steps("tree") or self._no_drift(changes, branch):
            self._publish(base, changes, branch)

    def _restart_with_empty_ledger(self) -> None:
        previous = self.ledger.result("commit") or {}
        self.store.requeue(
            self.job.id,
            self.token,
            phase=Phase.APPLY,
            reason=EventKind.PROPOSAL_CHANGED,
            base_sha=self.proposal.base_sha,
            data={"previous_commit": previous.get("sha"), "diff_sha256": self.proposal.diff_sha256},
        )

    def _no_drift(self, changes: list[FileChange], branch: str) -> bool:
        """True when the proposal may still be applied; False when the job went back to RUN.

        Checked before an attempt's first write and, unless that attempt checked already
        or an earlier one did less than ``DRIFT_FRESH_SECONDS`` before this attempt began,
        again before the branch is created: a proposal that waited (a rate limit, pacing,
        a backoff) is checked against the base branch as it is then. Once the branch is
        recorded, the commit is public and the decision made.
        """
        job, base_sha = self.job, self.proposal.base_sha
        if self.ledger.result("ref") is not None or self._drift_checked:
            return True
        self._drift_checked = True
        checks = [e.at for e in self.store.events(job.id) if e.kind == EventKind.DRIFT_CHECKED]
        if checks and job.updated_at - max(checks) < DRIFT_FRESH_SECONDS:
            return True  # a short wait between chunks (pacing) did not need another look
        touched = {c.path for c in changes} | {c.old_path for c in changes if c.old_path}
        found = drift.check(
            self.repo.gh, job.owner, job.name, base_sha=base_sha, branch=branch, touched=touched
        )
        if (found.stale or self._revision_moved(found.head)) and not self._lands_anyway():
            self._hold()
            self.store.requeue(
                job.id,
                self.token,
                phase=Phase.RUN,
                reason=EventKind.DRIFT,
                base_sha=found.head,
                data={
                    "files": list(found.files),
                    "cause": found.reason if found.stale else "branch_moved",
                    "old_base": base_sha,
                },
            )
            return False
        self.store.note(
            job.id,
            EventKind.DRIFT_CHECKED,
            {
                "head": found.head,
                "cause": found.reason,
                "changed_elsewhere": found.changed_elsewhere,
                **({"files": list(found.files)} if found.stale else {}),
            },
            token=self.token,
        )
        return True

    def _lands_anyway(self) -> bool:
        """An automatic refresh is not re-run when the base moves on while it is made: it
        lands on the base it took. Each push since found it past taking its base and
        scheduled the refresh after it (webhooks/handlers/refresh.py), which takes the head
        as it is then. Re-running instead would chase a busy base branch until
        ``max_drifts`` tombstones the refresh, and the branch would not move at all."""
        return self.job.mode is JobMode.REFRESH and bool(self.job.command.get("automatic"))

    def _revision_moved(self, head: str) -> bool:
        """A revision is one fast-forward commit: any move of its branch means re-running,
        except onto the revision's own commit (a crash after the branch moved)."""
        if self.job.mode is not JobMode.PR or not self.job.is_revision:
            return False
        if head == self.proposal.base_sha:
            return False
        return head != (self.ledger.result("commit") or {}).get("sha")

    # -- PR mode ----------------------------------------------------------------------------

    def _publish(self, base: BaseTree, changes: list[FileChange], branch: str) -> None:
        planned = trees.plan(changes)
        with allowance(self._writes_expected(planned)):
            ref_sha = self._git_objects(base, changes, planned, branch)
            if ref_sha is not None:
                self._finish(ref_sha, branch)

    def _writes_expected(self, planned: trees.Plan) -> int:
        """About how many content-creating requests this attempt will make (for pacing)."""
        per_chunk = self.services.settings.tree_chunk_entries
        done, _ = TreeProgress(self.ledger, self.content, lambda: None).furthest() or (0, "")
        left = len(planned.entries) - done if self.ledger.result("tree") is None else 0
        chunks = -(-left // per_chunk) + len(planned.blobs)
        # commit, ref, pull request, labels, reviewers, check run (two), comment
        later = ("commit", "ref", "pull_request", "pr_extras", "check_run", "comment")
        return chunks + sum(
            1 + (s in ("pr_extras", "check_run")) for s in later if self.ledger.result(s) is None
        )

    def _finish(self, ref_sha: str, branch: str) -> None:
        if self.job.is_revision:
            self._finish_child(ref_sha)
            return
        pr = self._pull_request(branch)
        self._pr_extras(pr)
        self._check_runs(ref_sha, pr)
        self._comment(self._parent_status(self.job, pr))
        self._step_done("after_comment")
        self.guard.complete(
            self.store, data={"pr_number": pr.number, "pr_url": pr.url, "pr_state": pr.state}
        )

    def _git_objects(
        self, base: BaseTree, changes: list[FileChange], planned: trees.Plan, branch: str
    ) -> str | None:
        """Tree, commit and branch; returns the commit the branch points at (None: the
        base branch changed a touched file, and the job went back to RUN)."""
        job, repo, key = self.job, self.repo, self.content
        settings = self.services.settings
        builder = trees.TreeBuilder(
            repo.gh,
            repo.owner,
            repo.name,
            TreeProgress(self.ledger, key, lambda: self._step_done("after_tree_chunk")),
            before_write=self._hold,
            bounds=trees.Bounds(settings.tree_chunk_entries, settings.tree_chunk_bytes),
        )
        tree = self.ledger.once(
            "tree", lambda: {"sha": builder.build(base.sha, planned), "content": key}
        )["sha"]
        self._hold()
        parent = self.proposal.base_sha
        message = reports.commit_message(job, self.proposal, prefix=self.prefix)
        author = effects.identity(settings.github_app_slug, settings.github_app_id, job.created_at)
        commit = self.ledger.once(
            "commit",
            lambda: {
                "sha": effects.create_commit(
                    repo, message=message, tree=tree, parent=parent, author=author
                ),
                "tree": tree,
                "parent": parent,
                "content": key,
            },
        )["sha"]
        self._step_done("after_commit")
        if not self._no_drift(changes, branch):
            return None
        self._hold()
        if job.mode is JobMode.REFRESH:
            return self._replace_branch(commit)
        if job.is_revision:
            return self._advance(commit, parent)
        ref = self.ledger.once(
            "ref",
            lambda: {
                "branch": job.branch,
                "sha": effects.claim_branch(
                    repo, job.branch, commit, tree=tree, parent=parent, ours=self._our_commits()
                ),
            },
        )
        self._step_done("after_ref")
        return str(ref["sha"])

    def _advance(self, commit: str, parent: str) -> str | None:
        """A revision's commit onto its proposal's branch, fast-forward only; None when the
        branch moved since the revision's base (the job went back to RUN on its head)."""
        job = self.job
        done = self.ledger.result("ref")
        if done is None:
            advanced = revisions.advance_branch(self.repo, job.branch, commit, parent=parent)
            if not advanced.landed:
                self._hold()
                self.store.requeue(
                    job.id,
                    self.token,
                    phase=Phase.RUN,
                    reason=EventKind.DRIFT,
                    base_sha=advanced.head,
                    data={"files": [], "cause": "branch_moved", "old_base": parent},
                )
                return None
            done = self.ledger.once("ref", lambda: {"branch": job.branch, "sha": commit})
        self._step_done("after_ref")
        return str(done["sha"])

    def _replace_branch(self, commit: str) -> str | None:
        """A refresh's commit replaces the proposal's branch (a force-move), only while every
        commit on it is Farcaster's, unless ``refresh --force`` asked; None: paused."""
        job = self.job
        done = self.ledger.result("ref")
        if done is None:
            pr_number = int(job.command["pr_number"])
            foreign = refresh.foreign_commits(self.repo, pr_number, self._identity()["email"])
            if foreign and not job.command.get("force"):
                self._pause_refresh(pr_number, foreign)
                return None
            self._hold()
            self.repo.before_create()
            self.repo.gh.update_ref(job.owner, job.name, job.branch, commit, force=True)
            done = self.ledger.once("ref", lambda: {"branch": job.branch, "sha": commit})
        self.store.note(
            str(job.parent_id),
            EventKind.REFRESHED,
            {"job": job.id, "base_ref": job.base_ref, "base_sha": self.proposal.base_sha},
        )
        self._step_done("after_ref")
        return str(done["sha"])

    def _pause_refresh(self, pr_number: int, foreign: list[str]) -> None:
        """Someone else's commit is on the branch: note the pause on the proposal, say so in
        its status comment, and end the refresh without moving anything."""
        parent = self.store.get(str(self.job.parent_id))
        self.store.note(
            parent.id, EventKind.REFRESH_PAUSED, {"job": self.job.id, "commits": foreign[:5]}
        )
        pr = effects.read_pull(self.repo, pr_number)
        self._comment(self._parent_status(parent, pr), about=parent)
        self.store.complete(self.job.id, self.token, data={"paused": True, "commits": foreign[:5]})

    def _parent_status(self, parent: Job, pr: PullInfo, landed: str | None = None) -> str:
        at = (self.job.id, landed) if landed and self.job.mode is JobMode.PR else None
        listed = revisions.revision_lines(self.store, parent.id, prefix=self.prefix, landed=at)
        notes = revisions.refresh_notes(self.store, parent.id, prefix=self.prefix)
        return reports.done_comment(parent, pr, prefix=self.prefix, revisions=listed, notes=notes)

    def _identity(self) -> dict[str, str]:
        settings = self.services.settings
        return effects.identity(
            settings.github_app_slug, settings.github_app_id, self.job.created_at
        )

    def _our_commits(self) -> set[str]:
        """Every commit this job ever recorded (the trail keeps them when a ledger is reset)."""
        return {
            str(e.data["sha"])
            for e in self.store.events(self.job.id)
            if e.kind is EventKind.EFFECT
            and e.data.get("step") in ("commit", "ref")
            and e.data.get("sha")
        }

    def _finish_child(self, ref_sha: str) -> None:
        """A revision's or a refresh's ending: the parent's pull request (read, never
        opened), the job's check run, and the parent's status comment."""
        job = self.job
        parent = self.store.get(str(job.parent_id))
        if parent.pr_number is None:
            raise Refusal(
                f"Job {parent.id}, which this revision revises, has no pull request.",
                reason_code="no_pull_request",
            )
        self._hold()
        self.ledger.once(
            "pull_request",
            lambda: {"number": parent.pr_number, "url": parent.pr_url, "state": "open"},
            job_updates=lambda r: {"pr_number": r["number"], "pr_url": r["url"]},
        )
        pr = effects.read_pull(self.repo, parent.pr_number)
        self._step_done("after_pr")
        self._check_runs(ref_sha, pr)
        self._comment(self._parent_status(parent, pr, landed=ref_sha), about=parent)
        self._step_done("after_comment")
        self.store.complete(
            job.id,
            self.token,
            data={"pr_number": pr.number, "pr_url": pr.url, "commit": ref_sha},
        )

    def _pull_request(self, branch: str) -> PullInfo:
        job = self.job
        self._hold()
        recorded = self.ledger.once(
            "pull_request",
            lambda: asdict(
                effects.find_or_open_pull(
                    self.repo,
                    branch=job.branch,
                    base=branch,
                    title=reports.pr_title(job, template=self.config.pull_request.title),
                    body=reports.pr_body(
                        job, self.proposal, prefix=self.prefix, blocked=self.blocked
                    ),
                    draft=self.config.pull_request.draft
                    or (self.verdict is not None and self.verdict.wants_draft),
                )
            ),
            job_updates=lambda r: {"pr_number": r["number"], "pr_url": r["url"]},
        )
        self._step_done("after_pr")
        # The ledger remembers that the PR exists, not what people did with it since: its
        # state is read again, so a PR closed or merged before a retry is reported as such.
        return effects.read_pull(self.repo, int(recorded["number"]))

    def _pr_extras(self, pr: PullInfo) -> None:
        """Labels and reviewers from the repository's settings, on an open PR only.

        A reviewer GitHub refuses is noted, not failed on: the PR stands without them.
        """
        settings = self.config.pull_request
        if pr.state != "open" or not (settings.labels or settings.reviewers):
            return
        self._hold()
        self.ledger.once("pr_extras", lambda: self._apply_extras(pr.number))
        self.guard.check()

    def _apply_extras(self, number: int) -> dict[str, Any]:
        applied = pr_extras.apply_extras(self.repo, number, self.config.pull_request)
        if applied.refused:
            # Noted before the step is recorded: a crash in between repeats the note rather
            # than losing it.
            self.store.note(
                self.job.id,
                EventKind.REVIEWERS_REFUSED,
                {
                    "step": "pr_extras",
                    "pr_number": number,
                    "reviewers": list(applied.refused),
                    "message": pr_extras.refusal_message(applied.refused),
                },
                token=self.token,
            )
        return asdict(applied)

    def _check_runs(self, head_sha: str, pr: PullInfo) -> None:
        """Conclude the job's check run on the PR's head (none for a PR a human closed)."""
        self._hold()
        if pr.state != "closed":
            output = reports.check_done(
                self.job, self.proposal, pr, prefix=self.prefix, blocked=self.blocked
            )
            conclusion = verdict_report.conclusion(self.verdict)
            self.ledger.once(
                "check_run",
                lambda: self._conclude_new_run(head_sha, conclusion, output),
                job_updates=lambda r: {"check_run_id": r["id"]},
            )
        self._step_done("after_check_run")

    # -- plan mode --------------------------------------------------------------------------

    def _plan(self) -> None:
        job, proposal = self.job, self.proposal
        self._hold()
        output = reports.check_plan(job, proposal, prefix=self.prefix, blocked=self.blocked)
        recorded = self.ledger.once(
            "plan_check_run",
            lambda: self._conclude_new_run(proposal.base_sha, "neutral", output),
            job_updates=lambda r: {"check_run_id": r["id"]},
        )
        self._step_done("after_check_run")
        self._comment(reports.plan_comment(job, proposal, prefix=self.prefix, blocked=self.blocked))
        self._step_done("after_comment")
        self.guard.complete(
            self.store, state=JobState.PLANNED, data={"check_run_id": recorded["id"]}
        )

    # -- check runs and the status comment --------------------------------------------------

    def _conclude_new_run(
        self, head_sha: str, conclusion: str, output: CheckOutput
    ) -> dict[str, Any]:
        run_id = effects.find_or_create_check_run(self.repo, head_sha, self.job.id, output)
        effects.conclude_check_run(self.repo, run_id, conclusion, output)
        return {"id": run_id, "head_sha": head_sha, "conclusion": conclusion}

    def _comment(self, body: str, *, about: Job | None = None) -> None:
        """Edit the status comment of the job (``about``: of the proposal a revision
        revises) in place, posting it if there is none."""
        job = about or self.job
        if job.issue_number is None:
            return
        self._hold()
        known = (self.ledger.result("comment") or {}).get("id") or job.comment_id
        comment_id = effects.upsert_status_comment(
            self.repo, job.issue_number, job.id, body, known=known
        )
        self.ledger.once(
            "comment", lambda: {"id": comment_id}, job_updates=lambda r: {"comment_id": r["id"]}
        )
