"""`farcaster jobs` as an operator uses it, on a real store (SQLite and PostgreSQL)."""

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from bot.cli.commands.jobs import age, app, display_state, parse_since, summarize
from bot.core.records import Failure, JobState, NewJob, NewProposal, Phase
from bot.core.settings import get_settings
from bot.store import Database, Store
from tests import factories

DIFF = """diff --git a/a.py b/a.py
--- a/a.py
+++ b/a.py
@@ -1 +1 @@
-def old(): pass
+def new(): pass
"""
PR_URL = "https://github.test/octo/widgets/pull/7"


@pytest.fixture
def store(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """The store the CLI will read (through FARCASTER_DATABASE_URL), for seeding jobs."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("FARCASTER_DATABASE_URL", db_url)
    monkeypatch.setenv("FARCASTER_MAX_ATTEMPTS", "3")
    get_settings.cache_clear()
    db = Database.from_url(db_url)
    yield Store(db, max_attempts=3, jitter=lambda: 0.0)
    db.dispose()
    get_settings.cache_clear()


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def new_job(n: int, **overrides: object) -> NewJob:
    """Ids long enough for prefix lookups (``0001aaaabbbb``), on issue 40 + n."""
    return factories.new_job(n, **{"id": f"{n:04d}aaaabbbb", "issue_number": 40 + n, **overrides})


def done_job(store: Store, n: int) -> str:
    """A job with a PR. Call it before making other ready jobs: it claims what is ready."""
    job = store.enqueue(new_job(n)).job
    (lease,) = store.claim("w", Phase.RUN)
    proposal = NewProposal("a" * 40, DIFF, "rename", "1.2", verify={"outcome": "passed"})
    store.store_proposal(job.id, lease.token, proposal)
    (lease,) = store.claim("w", Phase.APPLY)
    store.record_effect(
        job.id, lease.token, "pull_request", {"number": 7, "url": PR_URL},
        job_updates={"pr_number": 7, "pr_url": PR_URL},
    )  # fmt: skip
    store.complete(job.id, lease.token)
    return job.id


def tombstoned_job(store: Store, n: int, *, with_proposal: bool = True) -> str:
    job = store.enqueue(new_job(n, agent="replace")).job
    (lease,) = store.claim("w", Phase.RUN)
    if with_proposal:
        store.store_proposal(job.id, lease.token, NewProposal("a" * 40, DIFF, "replace", "1"))
        (lease,) = store.claim("w", Phase.APPLY)
    refusal = Failure("path_outside_repo", "The diff writes ../etc/passwd.", retryable=False)
    store.fail(job.id, lease.token, refusal)
    return job.id


# -- list --------------------------------------------------------------------------------


def test_list_shows_one_row_per_job_with_state_failed_attempts_agent_and_pr(store: Store) -> None:
    done = done_job(store, 1)
    queued = store.enqueue(new_job(2, repo="octo/gears")).job.id
    result = run("list")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.output.splitlines()[1:]}
    assert rows[done][:6] == [done, "octo/widgets", "41", "done", "0/3", "rename"]
    assert rows[done][-1] == PR_URL
    assert rows[queued][:6] == [queued, "octo/gears", "42", "queued", "0/3", "rename"]


def test_a_job_waiting_out_a_backoff_is_listed_as_scheduled(store: Store) -> None:
    job = store.enqueue(new_job(1)).job
    (lease,) = store.claim("w", Phase.RUN)
    store.fail(job.id, lease.token, Failure("flaky", "later", retryable=True, retry_after=600))
    store.enqueue(new_job(2))
    listed = json.loads(run("list", "--json").output)
    states = {j["id"]: (j["state"], j["display_state"]) for j in listed}
    assert states[job.id] == ("queued", "scheduled")
    assert states[new_job(2).id] == ("queued", "queued")
    only = json.loads(run("list", "--state", "scheduled", "--json").output)
    assert [j["id"] for j in only] == [job.id]


def test_list_filters_by_state_repo_and_age(store: Store) -> None:
    tombstoned = tombstoned_job(store, 3)  # first: the helper claims whatever is ready
    long_ago = time.time() - 3 * 86400
    store.enqueue(new_job(1), now=long_ago)
    store.enqueue(new_job(2, repo="octo/gears"))

    def ids(*args: str) -> list[str]:
        result = run("list", "--json", *args)
        assert result.exit_code == 0, result.output
        return sorted(j["id"] for j in json.loads(result.output))

    assert ids("--state", "tombstoned") == [tombstoned]
    assert ids("--repo", "octo/gears") == [new_job(2).id]
    assert ids("--since", "2h") == sorted([new_job(2).id, tombstoned])
    assert len(ids("--since", "4d")) == 3
    iso = time.strftime("%Y-%m-%d", time.gmtime(long_ago - 86400))
    assert len(ids("--since", iso)) == 3


@pytest.mark.parametrize("args", [["--state", "sleeping"], ["--since", "yesterday"]])
def test_a_bad_filter_is_a_usage_error(store: Store, args: list[str]) -> None:
    result = run("list", *args)
    assert result.exit_code == 2


def test_an_empty_store_says_so(store: Store) -> None:
    assert run("list").output.strip() == "No jobs."
    assert json.loads(run("list", "--json").output) == []


# -- show and events ---------------------------------------------------------------------


def shown(job_id: str) -> dict[str, str]:
    """`jobs show` as {name: value}: a name and its value are two or more spaces apart."""
    result = run("show", job_id)
    assert result.exit_code == 0, result.output
    pairs = (re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in result.output.splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def test_show_gives_the_proposal_verify_effects_and_pr(store: Store) -> None:
    job_id = done_job(store, 1)
    fields = shown(job_id[:6])
    assert fields["job"] == job_id
    assert fields["repo"] == "octo/widgets#41" and fields["state"] == "done"
    assert fields["command"] == "name=rename old=old new=new"
    assert fields["attempts"] == "0 of 3 failed"  # a clean job spends no attempt
    assert "1 files, +1 -1, rename 1.2" in fields["proposal"]
    assert fields["verify"] == "passed"
    assert fields["effect pull_request"] == f"number=7 url={PR_URL}"
    assert fields["pull request"] == PR_URL
    assert "tombstone" not in fields and "last error" not in fields


def test_show_gives_the_tombstone_reason_and_last_error(store: Store) -> None:
    job_id = tombstoned_job(store, 1)
    fields = shown(job_id)
    assert fields["tombstone"] == "path_outside_repo: The diff writes ../etc/passwd."
    assert fields["last error"] == "path_outside_repo: The diff writes ../etc/passwd."
    assert fields["verify"] == "not run"
    as_json = json.loads(run("show", job_id, "--json").output)
    assert as_json["tombstone"] == {
        "reason_code": "path_outside_repo",
        "summary": "The diff writes ../etc/passwd.",
    }
    assert as_json["job"]["state"] == "tombstoned" and "diff" not in as_json["proposal"]


def test_text_output_shows_brackets_in_messages_as_written(store: Store) -> None:
    job = store.enqueue(new_job(1, command={"name": "rename", "old": "[b]", "new": "c"})).job
    (lease,) = store.claim("w", Phase.RUN)
    message = "The agents file defines [agents.rename], but that name belongs to a built-in."
    store.fail(job.id, lease.token, Failure("configuration", message, retryable=False))
    fields = shown(job.id)
    assert fields["tombstone"] == f"configuration: {message}"
    assert "old=[b]" in fields["command"]
    assert "defines [agents.rename], but" in run("events", job.id).output


def test_events_lists_the_trail_oldest_first(store: Store) -> None:
    job_id = done_job(store, 1)
    kinds = [e["kind"] for e in json.loads(run("events", job_id, "--json").output)]
    assert kinds == ["created", "claimed", "proposal_stored", "claimed", "effect", "completed"]
    lines = run("events", job_id).output.splitlines()
    assert [line.split()[4] for line in lines[1:]] == kinds
    effect = next(line for line in lines if " effect " in line)
    assert effect.split()[2:4] == ["1", "2"]  # attempt 1 (both phases), fencing token 2
    assert f"step=pull_request number=7 url={PR_URL}" in effect


# -- errors ------------------------------------------------------------------------------


def test_an_unknown_job_exits_1_with_one_line(store: Store) -> None:
    result = run("show", "ffffff")
    assert result.exit_code == 1
    assert result.stderr == "farcaster jobs: There is no job 'ffffff'.\n"


def test_an_ambiguous_prefix_exits_1(store: Store) -> None:
    store.enqueue(new_job(1))
    store.enqueue(new_job(2))
    result = run("events", "000")
    assert result.exit_code == 1
    assert "matches several jobs; give more of the id" in result.stderr


def test_a_bad_setting_exits_2(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARCASTER_LEASE_SECONDS", "-1")
    get_settings.cache_clear()
    result = run("list")
    assert result.exit_code == 2
    assert result.stderr.startswith("farcaster jobs: FARCASTER_LEASE_SECONDS is invalid")


def test_an_unmigrated_database_exits_2_and_says_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FARCASTER_DATABASE_URL", f"sqlite:///{tmp_path}/empty.db")
    get_settings.cache_clear()
    try:
        result = run("list")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "Run `farcaster db upgrade`" in result.stderr


# -- retry and cancel --------------------------------------------------------------------


def test_retry_republishes_the_stored_proposal_by_default(store: Store) -> None:
    job_id = tombstoned_job(store, 1)
    result = run("retry", job_id)
    assert result.exit_code == 0, result.output
    assert "stored proposal will be published again" in result.output
    job = store.get(job_id)
    assert job.state is JobState.PROPOSED
    retried = store.events(job_id)[-1]
    assert retried.kind == "retried" and retried.data["phase"] == "apply"
    assert str(retried.data["actor"]).startswith("cli:")


def test_retry_with_recompute_runs_the_agent_again(store: Store) -> None:
    job_id = tombstoned_job(store, 1)
    result = run("retry", job_id, "--recompute")
    assert result.exit_code == 0 and "agent will run again" in result.output
    assert store.get(job_id).state is JobState.QUEUED


def test_retry_without_a_proposal_runs_the_agent(store: Store) -> None:
    job_id = tombstoned_job(store, 1, with_proposal=False)
    assert run("retry", job_id).exit_code == 0
    assert store.get(job_id).state is JobState.QUEUED


@pytest.mark.parametrize(("make", "why"), [("queued", "already on its way"), ("done", "is done")])
def test_retry_of_a_job_that_needs_none_exits_3_and_says_why(
    store: Store, make: str, why: str
) -> None:
    job_id = done_job(store, 1) if make == "done" else store.enqueue(new_job(1)).job.id
    before = len(store.events(job_id))
    result = run("retry", job_id)
    assert result.exit_code == 3
    assert why in result.stderr
    assert len(store.events(job_id)) == before


def test_cancel_stops_a_job_and_records_who_and_why(store: Store) -> None:
    job_id = store.enqueue(new_job(1)).job.id
    store.claim("w", Phase.RUN)
    result = run("cancel", job_id, "--reason", "wrong repository")
    assert result.exit_code == 0, result.output
    job = store.get(job_id)
    assert job.state is JobState.CANCELLED and job.lease_owner is None
    event = store.events(job_id)[-1]
    assert event.kind == "cancelled" and event.data["reason"] == "wrong repository"
    again = run("cancel", job_id)
    assert again.exit_code == 3 and "already cancelled" in again.stderr


# -- replay ------------------------------------------------------------------------------


def test_replay_hands_the_stored_proposal_to_the_interpreter(store: Store) -> None:
    pytest.importorskip("proposals.replay")
    if not hasattr(Store, "reopen_for_apply"):
        pytest.skip("the store has no reopen_for_apply yet")
    job_id = done_job(store, 1)
    result = run("replay", job_id[:8])
    assert result.exit_code == 0, result.output + result.stderr
    assert "proposed; a worker will interpret it again" in result.output
    assert store.get(job_id).state is JobState.PROPOSED
    assert set(store.effects(job_id)) == {"pull_request"}  # the ledger is kept


@pytest.mark.parametrize(("make", "why"), [("queued", "no stored proposal"), ("running", "")])
def test_replay_refuses_jobs_it_cannot_replay_with_exit_3(
    store: Store, make: str, why: str
) -> None:
    pytest.importorskip("proposals.replay")
    job_id = store.enqueue(new_job(1)).job.id
    if make == "running":
        (lease,) = store.claim("w", Phase.RUN)
        store.store_proposal(job_id, lease.token, NewProposal("a" * 40, DIFF, "rename", "1"))
        store.claim("w", Phase.APPLY)
        why = "applying: it is on its way already"
    result = run("replay", job_id)
    assert result.exit_code == 3
    assert why in result.stderr


# -- the pure helpers --------------------------------------------------------------------


def test_durations_and_dates_for_since() -> None:
    now = 1_000_000.0
    assert parse_since("2h", now) == now - 7200
    assert parse_since("3d", now) == now - 3 * 86400
    assert parse_since("1.5m", now) == now - 90
    assert parse_since("1970-01-02", now) == 86400
    assert parse_since("1970-01-01T01:00:00+01:00", now) == 0


def test_ages_use_the_largest_whole_unit() -> None:
    assert [age(s) for s in (-1, 42, 61, 7200, 3 * 86400 + 5)] == ["0s", "42s", "1m", "2h", "3d"]


def test_summaries_are_one_bounded_line() -> None:
    data = {"step": "commit", "sha": "a" * 40, "none": None, "msg": "two\nlines"}
    line = summarize(data, width=60)
    assert "\n" not in line and len(line) == 60 and "none" not in line
    assert summarize({"msg": "two\nlines"}) == "msg=two lines"


def test_only_a_ready_job_in_the_future_is_scheduled(store: Store) -> None:
    job = store.enqueue(new_job(1)).job
    assert display_state(job, job.run_after - 1) == "scheduled"
    assert display_state(job, job.run_after) == "queued"


@pytest.mark.parametrize("command", ["list", "show", "events", "retry", "cancel", "replay"])
def test_every_command_documents_the_exit_codes(command: str) -> None:
    text = CliRunner().invoke(app, [command, "--help"]).output
    assert "1 no such job" in text and "3 not possible in the job's state" in text
