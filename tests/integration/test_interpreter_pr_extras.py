"""Labels and reviewers from .github/farcaster.yml, applied by the real interpreter to the PR
it opens on the GitHub emulator (both store engines): what a maintainer sees on the PR,
what the job's events say when GitHub refuses a reviewer, and that replays add nothing.
"""

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

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
from tests.fakes.world import BASE_FILES, RENAMED, apply_as_the_worker_loop_does, git_diff

APP_ID = 5252
INSTALLATION = 525
OWNER = "acme"
_REPOS = itertools.count(1)
_TOKENS = MemCacheStrategy()
CONFIG = "pull_request:\n  labels: [refactor]\n  reviewers: [bob, acme/reviewers]\n"


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
    client: GitHubClient
    repo: str
    job_id: str

    def apply(self) -> Job:
        (lease,) = self.runtime.store.claim("interpreter", Phase.APPLY)
        apply_as_the_worker_loop_does(self.runtime, lease)
        return self.runtime.store.get(self.job_id)

    def pull(self, number: int) -> dict[str, Any]:
        return self.client.get_pull(OWNER, self.repo, number)

    def state(self) -> dict[str, Any]:
        return self.control.repo_state(OWNER, self.repo)

    def extras_calls(self) -> int:
        """POSTs of labels or review requests on this repository, as the emulator saw them."""
        path = f"/api/v3/repos/{OWNER}/{self.repo}/"
        return sum(
            len(self.control.journal(method="POST", path=path, contains=suffix))
            for suffix in ("/labels", "/requested_reviewers")
        )

    def refusals(self) -> list[dict[str, Any]]:
        events = self.runtime.store.events(self.job_id)
        return [dict(e.data) for e in events if e.kind == "reviewers_refused"]


def make_scene(
    control: EmulatorControl, store: Store, outbox: Outbox, settings: Settings, config: str
) -> Scene:
    repo = f"gadgets-{next(_REPOS)}"
    files = {path: content.decode() for path, content in BASE_FILES.items()}
    files[".github/farcaster.yml"] = config
    base_sha = str(control.create_repo(OWNER, repo, files=files)["head"])
    control.set_permission(OWNER, repo, "bob", "write")
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
            issue_number=1,
            requester="alice",
            base_sha=base_sha,
            max_attempts=10,
        )
    )
    (lease,) = store.claim("runner", Phase.RUN)
    diff = git_diff(BASE_FILES, RENAMED)
    store.store_proposal(job_id, lease.token, NewProposal(base_sha, diff, "rename", "1.0"))
    return Scene(control, runtime, client, repo, job_id)


SceneFor = Callable[[str], Scene]


@pytest.fixture
def scene_for(
    control: EmulatorControl, store: Store, outbox: Outbox, settings: Settings
) -> Callable[[str], Scene]:
    return lambda config: make_scene(control, store, outbox, settings, config)


def test_the_pull_request_gets_the_configured_label_and_reviewers(scene_for: SceneFor) -> None:
    scene = scene_for(CONFIG)

    job = scene.apply()

    assert job.state is JobState.DONE and job.pr_number is not None
    pull = scene.pull(job.pr_number)
    assert [label["name"] for label in pull["labels"]] == ["refactor"]
    assert [user["login"] for user in pull["requested_reviewers"]] == ["bob"]
    assert [team["slug"] for team in pull["requested_teams"]] == ["reviewers"]
    assert scene.refusals() == []


def test_a_reviewer_without_access_is_reported_and_the_others_still_asked(
    scene_for: SceneFor,
) -> None:
    config = "pull_request:\n  labels: [refactor]\n  reviewers: [carol, bob, elsewhere/team]\n"
    scene = scene_for(config)

    job = scene.apply()

    assert job.state is JobState.DONE and job.pr_number is not None
    pull = scene.pull(job.pr_number)
    assert pull["state"] == "open"
    assert [user["login"] for user in pull["requested_reviewers"]] == ["bob"]
    assert [label["name"] for label in pull["labels"]] == ["refactor"]
    (refusal,) = scene.refusals()
    assert sorted(refusal["reviewers"]) == ["carol", "elsewhere/team"]
    assert "carol: Reviews may only be requested from collaborators" in refusal["message"]
    assert "bob" not in refusal["reviewers"]


def test_replays_add_no_label_or_review_request_twice(scene_for: SceneFor) -> None:
    scene = scene_for(CONFIG)
    first = scene.apply()
    calls = scene.extras_calls()

    replay(scene.runtime.store, first.id)  # the ledger is kept: the step is not done again
    assert scene.apply().state is JobState.DONE
    assert scene.extras_calls() == calls

    with scene.runtime.store.db.transaction() as conn:  # a restored backup: no ledger
        statements.delete_effects(conn, first.id)
    replay(scene.runtime.store, first.id)
    job = scene.apply()

    assert job.state is JobState.DONE and job.pr_number == first.pr_number
    assert scene.extras_calls() > calls  # done again, and GitHub keeps one of each
    state = scene.state()
    assert state["labels"] == {str(job.pr_number): ["refactor"]}
    assert state["review_requests"] == {str(job.pr_number): ["bob", "acme/reviewers"]}


def test_settings_without_labels_or_reviewers_make_no_calls(scene_for: SceneFor) -> None:
    scene = scene_for("pull_request:\n  draft: false\n")

    job = scene.apply()

    assert job.state is JobState.DONE
    assert scene.extras_calls() == 0
    assert "pr_extras" not in scene.runtime.store.effects(job.id)


def test_a_closed_pull_request_gets_nothing_more(scene_for: SceneFor) -> None:
    scene = scene_for(CONFIG)
    first = scene.apply()
    assert first.pr_number is not None
    scene.control.close_pull(OWNER, scene.repo, first.pr_number, user="acme")
    calls = scene.extras_calls()
    with scene.runtime.store.db.transaction() as conn:  # forget everything: look it up again
        statements.delete_effects(conn, first.id)
    replay(scene.runtime.store, first.id)

    job = scene.apply()

    assert job.state is JobState.DONE and job.pr_number == first.pr_number
    assert scene.extras_calls() == calls
    assert "pr_extras" not in scene.runtime.store.effects(job.id)
