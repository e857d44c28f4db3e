"""The interpreter against the GitHub emulator: real git objects, real App auth, real sockets.

The respx fake (tests/fakes) lets the other interpreter tests crash inside a request; this
module checks the same promises against the emulator the e2e suite uses, so the two
cannot drift apart: one PR whose tree is git's own result of base + diff, signed commits
recognised by tree and parent, drift re-queued, a closed PR left closed.
"""

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from githubkit.cache import MemCacheStrategy

from bot.app.runtime import Runtime
from bot.core.records import Job, JobState, NewProposal, Phase
from bot.core.settings import Settings
from bot.emulator.control import EmulatorControl
from bot.github.client import GitHubClient
from bot.store import Store, statements
from bot.store.outbox import Outbox
from proposals.replay import replay
from tests.factories import new_job
from tests.fakes.emulated_github import emulated_github
from tests.fakes.world import (
    BASE_FILES,
    RENAMED,
    applied,
    apply_as_the_worker_loop_does,
    git_diff,
)

APP_ID = 5150
INSTALLATION = 515
OWNER = "acme"
ISSUE = 1
_REPOS = itertools.count(1)
_TOKENS = MemCacheStrategy()  # one App JWT and installation token for the module's emulator


@pytest.fixture(scope="module")
def control(
    tmp_path_factory: pytest.TempPathFactory, rsa_private_key_pem: str
) -> Iterator[EmulatorControl]:
    with emulated_github(
        tmp_path_factory.mktemp("emulator"),
        rsa_private_key_pem,
        app_id=APP_ID,
        installation=INSTALLATION,
        owner=OWNER,
    ) as control:
        yield control


@dataclass
class Scene:
    control: EmulatorControl
    runtime: Runtime
    repo: str
    base_sha: str
    job_id: str

    def job(self) -> Job:
        return self.runtime.store.get(self.job_id)

    def apply(self, *, now: float | None = None) -> Job:
        (lease,) = self.runtime.store.claim("interpreter", Phase.APPLY, now=now)
        apply_as_the_worker_loop_does(self.runtime, lease)
        return self.job()

    def state(self) -> dict[str, object]:
        return self.control.repo_state(OWNER, self.repo)

    def files(self, ref: str) -> dict[str, bytes]:
        return {p: str(t).encode() for p, t in self.control.files(OWNER, self.repo, ref).items()}


def make_scene(
    control: EmulatorControl,
    store: Store,
    outbox: Outbox,
    settings: Settings,
    base_files: Mapping[str, bytes] = BASE_FILES,
    edits: Mapping[str, bytes | None] = RENAMED,
) -> Scene:
    """A repository holding ``base_files`` and a job whose proposal is their ``edits``."""
    repo = f"widgets-{next(_REPOS)}"
    files = {path: content.decode() for path, content in base_files.items()}
    base_sha = str(control.create_repo(OWNER, repo, files=files)["head"])
    control.create_issue(OWNER, repo, title="rename please")
    settings = settings.model_copy(
        update={"github_api_url": control.api_url, "github_app_id": APP_ID}
    )
    client = GitHubClient.for_installation(settings, INSTALLATION, cache=_TOKENS)
    runtime = Runtime(settings, store.db, store, outbox, github=lambda _: client)
    job_id = (repo.encode().hex() + "0" * 12)[:12]
    store.enqueue(
        new_job(
            id=job_id,
            idempotency_key=f"comment:{repo}",
            repo=f"{OWNER}/{repo}",
            command={"name": "rename", "old": "old_name", "new": "new_name", "paths": []},
            installation_id=INSTALLATION,
            issue_number=ISSUE,
            requester="alice",
            base_sha=base_sha,
            max_attempts=10,
        )
    )
    (lease,) = store.claim("runner", Phase.RUN)
    diff = git_diff(dict(base_files), dict(edits))
    store.store_proposal(job_id, lease.token, NewProposal(base_sha, diff, "rename", "1.0"))
    return Scene(control, runtime, repo, base_sha, job_id)


@pytest.fixture
def scene(control: EmulatorControl, store: Store, outbox: Outbox, settings: Settings) -> Scene:
    return make_scene(control, store, outbox, settings)


def test_the_pull_request_holds_exactly_the_base_plus_the_diff(scene: Scene) -> None:
    job = scene.apply()

    assert job.state is JobState.DONE
    state = scene.state()
    assert state["pulls"] == {
        "total": 1,
        "open": 1,
        "closed": 0,
        "merged": 0,
        "by_head": {job.branch: 1},
    }
    assert scene.files(job.branch) == applied(BASE_FILES, RENAMED)
    comments = state["comments"]
    assert isinstance(comments, dict) and comments["total"] == 1
    checks = state["check_runs"]
    assert isinstance(checks, dict) and checks["by_external_id"] == {job.id: ["success"]}


def test_signed_commits_and_a_lost_ledger_still_converge(scene: Scene) -> None:
    scene.control.sign_commits(True)
    try:
        first = scene.apply()
        with scene.runtime.store.db.transaction() as conn:  # a restored backup
            statements.delete_effects(conn, first.id)
        replay(scene.runtime.store, first.id)
        job = scene.apply()
    finally:
        scene.control.sign_commits(False)

    assert job.state is JobState.DONE and job.pr_number == first.pr_number
    pulls = scene.state()["pulls"]
    assert isinstance(pulls, dict) and pulls["total"] == 1


def test_drift_on_a_touched_file_requeues_to_run(scene: Scene) -> None:
    head = scene.control.push(OWNER, scene.repo, "main", {"app/util.py": "def old_name(): ...\n"})

    job = scene.apply()

    assert job.state is JobState.QUEUED and job.base_sha == head
    pulls = scene.state()["pulls"]
    assert isinstance(pulls, dict) and pulls["total"] == 0


def test_a_closed_pull_request_is_not_reopened_by_a_replay(scene: Scene) -> None:
    first = scene.apply()
    assert first.pr_number is not None
    scene.control.close_pull(OWNER, scene.repo, first.pr_number, user="acme")
    with scene.runtime.store.db.transaction() as conn:  # forget the PR: look it up again
        statements.delete_effects(conn, first.id)

    replay(scene.runtime.store, first.id)
    job = scene.apply()

    assert job.state is JobState.DONE and job.pr_number == first.pr_number
    pulls = scene.state()["pulls"]
    assert isinstance(pulls, dict) and (pulls["total"], pulls["closed"]) == (1, 1)


SUBST_BASE = {
    ".gitattributes": b"version.txt export-subst\nscratch/* export-ignore\n",
    "version.txt": b"commit $Format:%H$\nold_name\n",
    "scratch/notes.txt": b"old_name scratch\n",
    "a.py": b"old_name = 1\n",
    "b.py": b"print(old_name)\n",
}
SUBST_EDITS: dict[str, bytes | None] = {
    "version.txt": b"commit $Format:%H$\nnew_name\n",
    "scratch/notes.txt": b"new_name scratch\n",
    "a.py": b"new_name = 1\n",
    "b.py": b"print(new_name)\n",
}


def test_files_the_tarball_rewrites_or_leaves_out_are_read_from_git_and_committed_from_git(
    control: EmulatorControl, store: Store, outbox: Outbox, settings: Settings
) -> None:
    scene = make_scene(control, store, outbox, settings, SUBST_BASE, SUBST_EDITS)
    since = control.journal_position()

    job = scene.apply()

    assert job.state is JobState.DONE
    # git's bytes, not the tarball's: `$Format:%H$` is still there, unexpanded.
    assert scene.files(job.branch) == applied(SUBST_BASE, SUBST_EDITS)
    gets = [e["path"] for e in control.journal(method="GET", since=since)]
    assert sum("/tarball/" in p for p in gets) == 1
    blob_reads = [p for p in gets if "/git/blobs/" in p]
    assert len(blob_reads) == 2  # version.txt (export-subst) and scratch/notes.txt (ignored)
    (noted,) = [e for e in store.events(job.id) if e.kind == "base_read_from_api"]
    assert sorted(noted.data["files"]) == ["scratch/notes.txt", "version.txt"]
