"""A test world for the interpreter: a real store, the fake GitHub, a job with a proposal.

``World.make`` seeds the fake repository, enqueues a job, lets a pretend runner store a
proposal (a real ``git diff`` between the base files and the edited ones), and hands out
APPLY leases. Time moves by passing ``now`` to claims, never by sleeping.
"""

import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from githubkit.cache import MemCacheStrategy

from bot.app.runtime import Runtime
from bot.core.errors import RateLimited, RefConflict, Refusal
from bot.core.records import Job, Lease, NewProposal, Phase
from bot.core.redaction import Redactor
from bot.core.settings import Settings
from bot.core.vocab import OutboxKind
from bot.github.client import GitHubClient
from bot.store import Store
from bot.store.outbox import Outbox, OutboxItem
from bot.worker.leases import LeaseGuard
from bot.worker.loop import failure_from_error, postpone_for_rate_limit
from proposals.interpreter import apply_job
from tests.factories import new_job
from tests.fakes.github_fake import FakeGitHub

JOB_ID = "0a1b2c3d4e5f"
ISSUE = 7
INSTALLATION = 42

# One token cache for the whole session: every fake mints the same token, and building the
# App's JWT (parsing the RSA key) once instead of per test saves a quarter of a second each.
_TOKENS = MemCacheStrategy()

BASE_FILES: dict[str, bytes] = {
    "app/util.py": b"def old_name(x):\n    return x * 2\n",
    "app/main.py": b"from app.util import old_name\n\nprint(old_name(21))\n",
    "README.md": b"# demo\n",
    "docs/guide.md": b"Call old_name to double a number.\n",
}
RENAMED: dict[str, bytes | None] = {
    "app/util.py": b"def new_name(x):\n    return x * 2\n",
    "app/main.py": b"from app.util import new_name\n\nprint(new_name(21))\n",
}


def _git(cwd: Path, *args: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
        "HOME": str(cwd),
    }
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, check=True)
    return done.stdout.decode("utf-8", "surrogateescape")


@lru_cache(maxsize=32)
def _cached_diff(
    base: tuple[tuple[str, bytes], ...], edits: tuple[tuple[str, bytes | None], ...]
) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _git(root, "init", "-q")
        for path, content in base:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content)
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "base")
        for path, new in edits:
            if new is None:
                (root / path).unlink()
            else:
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                (root / path).write_bytes(new)
        _git(root, "add", "-A")
        return _git(root, "diff", "--cached", "-M", "HEAD")


def git_diff(base: Mapping[str, bytes], edits: Mapping[str, bytes | None]) -> str:
    """What the runner would store: ``git diff`` from ``base`` to ``base`` with ``edits``."""
    return _cached_diff(tuple(sorted(base.items())), tuple(sorted(edits.items())))


def applied(base: Mapping[str, bytes], edits: Mapping[str, bytes | None]) -> dict[str, bytes]:
    files = dict(base)
    for path, content in edits.items():
        if content is None:
            files.pop(path)
        else:
            files[path] = content
    return files


@dataclass
class World:
    store: Store
    outbox: Outbox
    runtime: Runtime
    fake: FakeGitHub
    base_sha: str
    job_id: str = JOB_ID

    @classmethod
    def make(
        cls,
        store: Store,
        outbox: Outbox,
        settings: Settings,
        *,
        fake: FakeGitHub | None = None,
        base: Mapping[str, bytes] = BASE_FILES,
    ) -> "World":
        fake = fake or FakeGitHub()
        base_sha = fake.seed(dict(base))
        clients: dict[int, GitHubClient] = {}

        def github(installation_id: int) -> GitHubClient:
            if installation_id not in clients:
                clients[installation_id] = GitHubClient.for_installation(
                    settings, installation_id, transport=fake.transport(), cache=_TOKENS
                )
            return clients[installation_id]

        runtime = Runtime(settings=settings, db=store.db, store=store, outbox=outbox, github=github)
        return cls(store, outbox, runtime, fake, base_sha)

    # -- the job's life before the interpreter --------------------------------------------

    def enqueue(self, *, mode: str = "pr", **overrides: Any) -> Job:
        values: dict[str, Any] = dict(
            id=self.job_id,
            idempotency_key=f"comment:{self.job_id}",
            repo=self.fake.full_name,
            command={"name": "rename", "old": "old_name", "new": "new_name", "paths": []},
            installation_id=INSTALLATION,
            issue_number=ISSUE,
            requester="alice",
            mode=mode,
            base_sha=self.base_sha,
            max_attempts=20,
        )
        return self.store.enqueue(new_job(**{**values, **overrides})).job

    def propose(
        self,
        diff: str,
        *,
        base_sha: str | None = None,
        now: float | None = None,
        verify: dict[str, Any] | None = None,
    ) -> None:
        """Play the runner: claim the job for RUN and store ``diff`` as its proposal."""
        (lease,) = self.store.claim("runner", Phase.RUN, now=now)
        proposal = NewProposal(
            base_sha=base_sha or lease.job.base_sha or self.base_sha,
            diff=diff,
            agent="rename",
            agent_version="1.0",
            verify=verify or {"outcome": "passed", "summary": "12 tests passed"},
        )
        self.store.store_proposal(lease.job_id, lease.token, proposal)

    def proposed(self, edits: Mapping[str, bytes | None] = RENAMED, **job: Any) -> Job:
        self.enqueue(**job)
        self.propose(git_diff(BASE_FILES, edits))
        return self.job()

    # -- the interpreter ------------------------------------------------------------------

    def claim(self, *, now: float | None = None, owner: str = "interpreter") -> Lease:
        leases = self.store.claim(owner, Phase.APPLY, now=now)
        assert len(leases) == 1, f"expected one job to apply, got {leases}"
        return leases[0]

    def apply(self, *, now: float | None = None) -> Job:
        apply_as_the_worker_loop_does(self.runtime, self.claim(now=now))
        return self.job()

    def report_items(self) -> list[OutboxItem]:
        """The job's report items, claimed after the job's earlier status edits (its comment
        lane hands them out first; here they are marked done without writing)."""
        items: list[OutboxItem] = []
        while claimed := self.outbox.claim("reporter", limit=50):
            self.outbox.done_many([i for i in claimed if i.kind != OutboxKind.JOB_REPORT])
            items += [i for i in claimed if i.kind == OutboxKind.JOB_REPORT]
        return items

    def job(self) -> Job:
        return self.store.get(self.job_id)

    def later(self, seconds: float = 3600.0) -> float:
        """A time past every lease and backoff the test has made so far."""
        with self.store.db.engine.connect() as conn:
            return self.store.db.now(conn) + seconds

    def effect_steps(self) -> list[str]:
        return sorted(self.store.effects(self.job_id))

    def event_kinds(self) -> list[str]:
        return [e.kind for e in self.store.events(self.job_id)]


def apply_as_the_worker_loop_does(runtime: Runtime, lease: Lease) -> None:
    """apply_job, with what the worker loop does about a rate limit and a refusal; other
    errors propagate (crash tests catch them)."""
    redactor = Redactor(runtime.settings.secret_values())
    try:
        apply_job(runtime, lease, LeaseGuard(lease))
    except RateLimited as exc:
        postpone_for_rate_limit(runtime, lease, exc, redactor)
    except (Refusal, RefConflict) as exc:
        runtime.store.fail(lease.job_id, lease.token, failure_from_error(exc, redactor))
