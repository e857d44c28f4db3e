"""The runner against a mocked GitHub, on both engines: a queued job becomes a proposal."""

import io
import json
import subprocess
import sys
import tarfile

import pytest
import respx
from prometheus_client import CollectorRegistry

from bot.app.runtime import Runtime
from bot.core.records import JobState, Phase
from bot.core.redaction import REDACTED
from bot.observe.metrics import install_agent_metrics
from bot.worker.loop import WorkerLoop
from bot.worker.runner import run_job
from tests.factories import make_job
from tests.runner_support import (
    API,
    INSTALLATION_TOKEN,
    OWNER,
    REPO,
    github_factory,
    job_spec,
    mock_github,
    sample_repository,
    tarball,
    unreachable,
)
from tests.worker_round import one_round

PY = sys.executable
# Command agents are small scripts; each edits README.md so that it proposes something.
SCRIPTS = {
    "envdump.py": (
        "import json, os\n"
        "env = dict(os.environ)\n"
        "# The passed variable's value may not be proposed (secret_in_diff): its length shows\n"
        "# that it arrived.\n"
        "env['MY_API_KEY'] = len(env['MY_API_KEY'])\n"
        "open('env.json', 'w').write(json.dumps(env))\n"
        "open('README.md', 'a').write('edited by the agent\\n')\n"
    ),
    "planter.py": (
        "import os, sys\n"
        "print('planting', open(sys.argv[1]).read())\n"
        "open('leak.py', 'w').write('x = 1\\n' + open(sys.argv[1]).read())\n"
    ),
    "printer.py": (
        "import os\n"
        "print('my key is', os.environ['MY_API_KEY'])\n"
        "open('README.md', 'a').write('edited by the agent\\n')\n"
    ),
    "failer.py": ("import os, sys\nprint('rejected key', os.environ['MY_API_KEY'])\nsys.exit(3)\n"),
    "passer.py": (
        "import os\n"
        "print('my key is', os.environ['MY_API_KEY'])\n"
        "open('README.md', 'a').write('key: ' + os.environ['MY_API_KEY'] + '\\n')\n"
    ),
    "echo.py": (
        "import sys\n"
        "print('instruction:', sys.argv[1])\n"
        "open('README.md', 'a').write('edited by the agent\\n')\n"
    ),
    "sleeper.py": "import time\nprint('thinking', flush=True)\ntime.sleep(600)\n",
    "verify.py": "print('all good')\n",
}


def agents_file(folder):
    # The sandbox shows an agent only what it names: here, this folder of scripts.
    for name, code in SCRIPTS.items():
        (folder / name).write_text(code)
    path = folder / "agents.toml"
    path.write_text(
        f"""
[agents.envdump]
argv = ["{PY}", "{folder}/envdump.py"]
read_only = ["{folder}"]
env = ["MY_API_KEY"]

[agents.echo]
argv = ["{PY}", "{folder}/echo.py", "{{instruction}}"]
read_only = ["{folder}"]
verify = ["{PY}", "{folder}/verify.py"]

[agents.planter]
argv = ["{PY}", "{folder}/planter.py", "{folder}/planted.txt"]
read_only = ["{folder}"]

[agents.printer]
argv = ["{PY}", "{folder}/printer.py"]
read_only = ["{folder}"]
env = ["MY_API_KEY"]

[agents.failer]
argv = ["{PY}", "{folder}/failer.py"]
read_only = ["{folder}"]
env = ["MY_API_KEY"]
final_exit_codes = [3]

[agents.passer]
argv = ["{PY}", "{folder}/passer.py"]
read_only = ["{folder}"]
env = ["MY_API_KEY"]

[agents.sleeper]
argv = ["{PY}", "{folder}/sleeper.py"]
read_only = ["{folder}"]
timeout = 0.5
"""
    )
    return path


@pytest.fixture
def origin(tmp_path):
    return sample_repository(tmp_path / "origin")


@pytest.fixture
def runtime(settings, tmp_path):
    (tmp_path / "agents").mkdir()
    agents = agents_file(tmp_path / "agents")
    configured = settings.model_copy(
        update={"scratch_dir": tmp_path / "scratch", "agents_file": agents}
    )
    rt = Runtime.from_settings(configured, github=github_factory(configured))
    yield rt
    rt.close()


@pytest.fixture
def github(origin):
    repository, sha = origin
    with respx.mock(assert_all_called=False) as router:
        yield router, mock_github(router, tarball(repository, sha), sha)


def run_one(runtime, command, sha, **spec):
    runtime.store.enqueue(job_spec(command, sha=sha, **spec))
    loop = WorkerLoop(runtime, worker_id="runner-1", handlers={Phase.RUN: run_job})
    assert one_round(loop) == 1
    return runtime.store.get(spec.get("job_id", "job1"))


def kinds(runtime, job_id="job1"):
    return [e.kind for e in runtime.store.events(job_id)]


def failure_of(runtime, job_id="job1"):
    return next(e.data for e in runtime.store.events(job_id) if e.kind == "attempt_failed")


def scratch_is_empty(runtime):
    return list(runtime.settings.scratch_dir.iterdir()) == []


RENAME = {"name": "rename", "old": "net_price", "new": "price_before_tax", "paths": []}


def test_a_queued_rename_becomes_a_proposal_renaming_the_symbol_and_its_call_sites(
    runtime, origin, github
):
    _, routes = github
    repository, sha = origin
    job = run_one(runtime, RENAME, sha)
    assert job.state is JobState.PROPOSED
    proposal = runtime.store.latest_proposal("job1")
    assert proposal.base_sha == sha
    assert (proposal.agent, proposal.attempt) == ("rename", 1)
    diff = proposal.diff
    assert "-def net_price(gross):\n+def price_before_tax(gross):" in diff
    assert "+from inventory.pricing import Basket, price_before_tax" in diff
    assert "+    by_total = inventory.pricing.price_before_tax(basket.total())" in diff
    assert "receipt.py" not in diff  # its local `net_price` is a different name
    assert proposal.files_changed == 4
    assert kinds(runtime) == ["created", "claimed", "proposal_stored"]
    assert routes["tarball"].call_count == 1
    assert routes["codeload"].call_count == 1
    assert scratch_is_empty(runtime)
    # The proposal applies to the real base commit (the unit tests run the package's tests).
    check = ["git", "apply", "--check", "-"]
    subprocess.run(check, cwd=repository, input=diff.encode(), check=True)


def test_jobs_keep_the_last_good_agents_when_the_file_is_broken_while_the_worker_runs(
    runtime, origin, github
):
    _, sha = origin
    echo = {"name": "run", "agent": "echo", "instruction": "x"}
    # The edit that once tombstoned every run job: a command agent shadowing a built-in.
    runtime.settings.agents_file.write_text('[agents.rename]\nargv = ["x"]\n')
    renamed = run_one(runtime, RENAME, sha)
    echoed = run_one(runtime, echo, sha, job_id="job2", agent="echo")
    assert (renamed.state, echoed.state) == (JobState.PROPOSED, JobState.PROPOSED)
    assert runtime.store.latest_proposal("job2").agent == "echo"


def test_agent_runs_are_timed_by_outcome_for_the_metrics(runtime, origin, github):
    _, sha = origin
    registry = CollectorRegistry()
    install_agent_metrics(registry)
    run_one(runtime, RENAME, sha)
    run_one(runtime, {**RENAME, "new": "also_new"}, sha, job_id="job2")
    run_one(
        runtime,
        {"name": "run", "agent": "sleeper", "instruction": "x"},
        sha,
        job_id="job3",
        agent="sleeper",
    )
    count = "farcaster_agent_duration_seconds_count"
    assert registry.get_sample_value(count, {"agent": "rename", "outcome": "proposed"}) == 2
    assert registry.get_sample_value(count, {"agent": "sleeper", "outcome": "timeout"}) == 1


def test_an_unknown_symbol_ends_as_a_tombstone_with_a_clear_event(runtime, origin, github):
    _, sha = origin
    job = run_one(runtime, {**RENAME, "old": "net_prize"}, sha)
    assert job.state is JobState.TOMBSTONED
    failure = failure_of(runtime)
    assert failure["reason_code"] == "unknown_symbol"
    assert failure["retryable"] is False
    assert "inventory/pricing.py:6 (inventory.pricing.net_price)" in failure["message"]
    assert runtime.store.tombstone("job1").reason_code == "unknown_symbol"
    assert runtime.store.latest_proposal("job1") is None
    assert scratch_is_empty(runtime)


def test_a_change_that_changes_nothing_is_refused_as_an_empty_diff(runtime, origin, github):
    _, sha = origin
    command = {"name": "replace", "pattern": "zebra", "replacement": "horse", "regex": False}
    job = run_one(runtime, command, sha)
    assert job.state is JobState.TOMBSTONED
    failure = failure_of(runtime)
    assert (failure["reason_code"], failure["message"]) == (
        "empty_diff",
        "The agent changed nothing.",
    )


def test_an_unreachable_github_is_retried_later(runtime, origin, github):
    _, routes = github
    _, sha = origin
    routes["tarball"].mock(side_effect=unreachable)
    job = run_one(runtime, RENAME, sha)
    assert job.state is JobState.QUEUED
    failure = failure_of(runtime)
    assert failure["reason_code"] == "github_unavailable"
    assert failure["retryable"] is True
    assert failure["retry_in"] > 0
    assert scratch_is_empty(runtime)


def test_a_github_rate_limit_requeues_the_job_after_the_wait_github_asked_for(
    runtime, origin, github
):
    _, routes = github
    _, sha = origin
    routes["tarball"].respond(
        429,
        json={"message": "You have exceeded a secondary rate limit."},
        headers={"Retry-After": "90"},
    )
    job = run_one(runtime, RENAME, sha)
    assert job.state is JobState.QUEUED and job.attempts == 0  # waiting spends no attempt
    (limited,) = [e for e in runtime.store.events(job.id) if e.kind == "rate_limited"]
    assert limited.data["delay"] == 90.0
    assert job.run_after >= job.updated_at + 89


def test_a_tarball_with_a_link_out_of_the_repository_is_refused(runtime, origin, github):
    _, routes = github
    _, sha = origin
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        link = tarfile.TarInfo(f"{OWNER}-{REPO}-{sha[:7]}/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        tar.addfile(link)
    routes["codeload"].respond(200, content=evil.getvalue())
    job = run_one(runtime, RENAME, sha)
    assert job.state is JobState.TOMBSTONED
    failure = failure_of(runtime)
    assert failure["reason_code"] == "unsafe_snapshot"
    assert "points outside the repository" in failure["message"]


def test_no_secret_reaches_a_command_agent(runtime, origin, github, monkeypatch, db_url):
    _, sha = origin
    settings = runtime.settings
    secrets = [
        settings.webhook_secret.get_secret_value(),
        settings.github_private_key.get_secret_value(),
        db_url,
        INSTALLATION_TOKEN,
    ]
    monkeypatch.setenv("FARCASTER_WEBHOOK_SECRET", secrets[0])
    monkeypatch.setenv("FARCASTER_GITHUB_PRIVATE_KEY", secrets[1])
    monkeypatch.setenv("FARCASTER_DATABASE_URL", db_url)
    monkeypatch.setenv("GITHUB_TOKEN", INSTALLATION_TOKEN)
    monkeypatch.setenv("MY_API_KEY", "model-key")
    command = {"name": "run", "agent": "envdump", "instruction": "dump"}
    job = run_one(runtime, command, sha, agent="envdump")
    assert job.state is JobState.PROPOSED
    proposal = runtime.store.latest_proposal("job1")
    # The diff is stored as the agent wrote it (never redacted), so it shows what it saw.
    added = next(line[1:] for line in proposal.diff.splitlines() if line.startswith("+{"))
    seen = json.loads(added)
    # bwrap adds PWD (the checkout's path inside the sandbox); nothing else is added.
    assert set(seen) - {"PWD"} == {"PATH", "HOME", "LANG", "MY_API_KEY"}
    assert seen["MY_API_KEY"] == len("model-key")
    for secret in secrets:
        assert secret not in proposal.diff
        assert secret not in proposal.agent_log
    assert "ghs_" not in proposal.diff


# Made up, shaped like a classic personal access token.
PLANTED_TOKEN = "ghp_" + "Zx9" * 12


def test_a_diff_adding_secrets_is_refused_and_no_trace_of_them_is_stored(
    runtime, origin, github, tmp_path
):
    _, sha = origin
    hook = runtime.settings.webhook_secret.get_secret_value()
    (tmp_path / "agents" / "planted.txt").write_text(
        f"HOOK = {hook!r}\nTOKEN = {PLANTED_TOKEN!r}\n"
    )
    command = {"name": "run", "agent": "planter", "instruction": "plant"}
    job = run_one(runtime, command, sha, agent="planter")
    assert job.state is JobState.TOMBSTONED
    assert runtime.store.latest_proposal("job1") is None
    failure = failure_of(runtime)
    assert failure["reason_code"] == "secret_in_diff"
    assert "`leak.py` line 2 (this server's webhook secret)" in failure["message"]
    assert "`leak.py` line 3 (a GitHub token)" in failure["message"]
    stored = [json.dumps(e.data) for e in runtime.store.events("job1")]
    stored.append(json.dumps(runtime.store.tombstone("job1").summary))
    for text in stored:
        assert hook not in text and PLANTED_TOKEN not in text
    assert scratch_is_empty(runtime)


def test_the_value_of_a_variable_passed_to_the_agent_may_be_used_but_not_proposed(
    runtime, origin, github, monkeypatch
):
    _, sha = origin
    monkeypatch.setenv("MY_API_KEY", "model-key-value")
    command = {"name": "run", "agent": "passer", "instruction": "use the key"}
    job = run_one(runtime, command, sha, agent="passer")
    assert job.state is JobState.TOMBSTONED
    failure = failure_of(runtime)
    assert failure["reason_code"] == "secret_in_diff"
    assert "`README.md`" in failure["message"] and "passed to the agent" in failure["message"]
    assert "model-key-value" not in failure["message"]


def test_the_stored_agent_log_is_redacted_of_the_passed_variables_too(
    runtime, origin, github, monkeypatch
):
    _, sha = origin
    monkeypatch.setenv("MY_API_KEY", "model-key-value")
    command = {"name": "run", "agent": "printer", "instruction": "use the key"}
    job = run_one(runtime, command, sha, agent="printer")
    assert job.state is JobState.PROPOSED
    proposal = runtime.store.latest_proposal("job1")
    assert proposal.agent_log.strip() == f"my key is {REDACTED}"


def test_a_failure_quoting_a_passed_variable_is_stored_redacted(
    runtime, origin, github, monkeypatch
):
    _, sha = origin
    monkeypatch.setenv("MY_API_KEY", "model-key-value")
    command = {"name": "run", "agent": "failer", "instruction": "use the key"}
    job = run_one(runtime, command, sha, agent="failer")
    assert job.state is JobState.TOMBSTONED
    failure = failure_of(runtime)
    assert failure["reason_code"] == "agent_failed"
    assert f"rejected key {REDACTED}" in failure["message"]
    assert "model-key-value" not in json.dumps([e.data for e in runtime.store.events("job1")])
    assert "model-key-value" not in runtime.store.tombstone("job1").summary


def test_the_agent_log_is_redacted_and_the_verify_outcome_stored(runtime, origin, github):
    _, sha = origin
    secret = runtime.settings.webhook_secret.get_secret_value()
    command = {"name": "run", "agent": "echo", "instruction": f"say {secret}"}
    job = run_one(runtime, command, sha, agent="echo")
    assert job.state is JobState.PROPOSED
    proposal = runtime.store.latest_proposal("job1")
    assert proposal.agent_log.strip() == f"instruction: say {REDACTED}"
    assert proposal.verify["outcome"] == "passed"
    stored = next(e for e in runtime.store.events("job1") if e.kind == "proposal_stored")
    assert stored.data["verify"] == "passed"
    assert "+edited by the agent" in proposal.diff


def test_a_command_agent_past_its_timeout_is_killed_and_the_job_retried(runtime, origin, github):
    _, sha = origin
    command = {"name": "run", "agent": "sleeper", "instruction": "think hard"}
    job = run_one(runtime, command, sha, agent="sleeper")
    assert job.state is JobState.QUEUED
    failure = failure_of(runtime)
    assert failure["reason_code"] == "agent_timeout"
    assert failure["retryable"] is True
    assert "ran past its 0.5 s timeout" in failure["message"]
    assert "Last output: thinking" in failure["message"]
    assert scratch_is_empty(runtime)


def test_an_unknown_agent_is_refused(runtime, origin, github):
    _, sha = origin
    job = run_one(runtime, {"name": "run", "agent": "gpt", "instruction": "x"}, sha, agent="gpt")
    assert job.state is JobState.TOMBSTONED
    assert failure_of(runtime)["reason_code"] == "unknown_agent"


def test_a_job_recorded_without_a_base_runs_on_its_branch_head(runtime, origin, github):
    router, _ = github
    _, sha = origin
    router.get(f"{API}/repos/{OWNER}/{REPO}/git/ref/heads/main").respond(
        200, json={"ref": "refs/heads/main", "object": {"sha": sha, "type": "commit"}}
    )
    spec = job_spec(RENAME, sha=sha)
    runtime.store.enqueue(spec.__class__(**{**spec.__dict__, "base_sha": None}))
    one_round(WorkerLoop(runtime, worker_id="r", handlers={Phase.RUN: run_job}))
    assert runtime.store.latest_proposal("job1").base_sha == sha
    resolved = next(e for e in runtime.store.events("job1") if e.kind == "base_resolved")
    assert resolved.data == {"base_ref": "main", "base_sha": sha}


def test_the_tarball_is_downloaded_with_the_installation_token(runtime, origin, github):
    _, routes = github
    _, sha = origin
    run_one(runtime, RENAME, sha)
    request = routes["tarball"].calls.last.request
    assert request.headers["authorization"] == f"token {INSTALLATION_TOKEN}"
    assert routes["token"].call_count == 1


def test_an_agent_the_repository_did_not_enable_never_runs(tmp_path) -> None:
    from bot.core.errors import AgentFailed
    from bot.worker.runner import check_agent_enabled, repo_config_at

    config = tmp_path / ".github" / "farcaster.yml"
    config.parent.mkdir()
    config.write_text("agents: [rename]\n")
    capped = repo_config_at(tmp_path, {"rename", "replace"})
    check_agent_enabled(capped, "rename")
    with pytest.raises(AgentFailed) as refused:
        check_agent_enabled(capped, "replace")
    assert refused.value.reason_code == "agent_not_enabled"
    assert "enabled: rename" in refused.value.message
    # No file: every agent the server defines.
    check_agent_enabled(repo_config_at(tmp_path / "elsewhere", {"rename", "replace"}), "replace")


def test_a_repository_may_ask_for_more_than_write_permission(tmp_path) -> None:
    from bot.core.errors import AgentFailed
    from bot.core.repo_config import parse_repo_config
    from bot.worker.runner import check_requester_permission

    class Permissions:
        def __init__(self, held: str) -> None:
            self.held = held

        def collaborator_permission(self, owner: str, repo: str, user: str) -> str:
            assert (owner, repo, user) == ("acme", "widgets", "alice")
            return self.held

    job = make_job(repo="acme/widgets", requester="alice", state=JobState.RUNNING)
    config = parse_repo_config("permission:\n  minimum: maintain\n")
    check_requester_permission(config, job, Permissions("admin"))  # type: ignore[arg-type]
    with pytest.raises(AgentFailed) as refused:
        check_requester_permission(config, job, Permissions("write"))  # type: ignore[arg-type]
    assert refused.value.reason_code == "permission_denied"
    assert "@alice has write permission" in refused.value.message
