"""Jobs that cannot succeed: one report comment, a failed check run, nothing pushed."""

import sys
from pathlib import Path

import pytest

from bot.core.records import Job, JobState
from bot.emulator.world import BOT_LOGIN, World

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def bot_comments(box: World, number: int) -> list[str]:
    comments = box.github_client().list_issue_comments("acme", "inventory", number)
    return [c["body"] for c in comments if c["user"]["login"] == BOT_LOGIN]


def run_to_tombstone(box: World, number: int, body: str) -> Job:
    box.comment(number, body)
    job = box.wait_for_state(box.only_job().id, JobState.TOMBSTONED, JobState.DONE, timeout=60)
    assert job.state is JobState.TOMBSTONED
    box.wait_for_outbox()
    return job


def test_an_unknown_symbol_tombstones_with_one_report_and_retry_runs_again(box: World) -> None:
    box.start_server(workers=1)
    number = box.open_issue()
    job = run_to_tombstone(box, number, "/farcaster rename no_such_name other_name")
    tombstone = box.store.tombstone(job.id)
    assert tombstone is not None and tombstone.reason_code == "unknown_symbol"
    (report,) = bot_comments(box, number)
    assert "no_such_name" in report and f"/farcaster retry {job.id}" in report
    assert box.state()["check_runs"]["by_external_id"][job.id] == ["failure"]
    assert box.state()["farcaster_branches"] == {}

    box.comment(number, f"/farcaster retry {job.id}")
    box.wait_for_state(job.id, JobState.QUEUED, JobState.RUNNING, JobState.TOMBSTONED, timeout=30)
    job = box.wait_for_state(job.id, JobState.TOMBSTONED, timeout=60)
    box.wait_for_outbox()
    kinds = [e.kind for e in box.store.events(job.id)]
    assert kinds.count("retried") == 1 and kinds.count("tombstoned") == 2
    assert len(bot_comments(box, number)) == 1  # the same report, rewritten
    assert box.state()["check_runs"]["by_external_id"][job.id] == ["failure"]


HOSTILE = {
    # In the sandbox the root is read-only: the write fails and the agent says so (final).
    "outside": "import sys\ntry:\n    open('../../escaped.txt', 'w').write('x')\n"
    "except OSError as exc:\n    print(exc)\n    sys.exit(3)",
    "passwd": "import os; os.symlink('/etc/passwd', 'passwd')",
    "gitconfig": "import os; os.makedirs('.git', exist_ok=True); "
    "open('.git/config', 'a').write('[core]\\n\\tpager = evil\\n')",
    "huge": "open('huge.bin', 'wb').write(b'a' * (50 * 1024 * 1024))",
    "fails": "raise SystemExit(3)",
}
EXPECTED_REASON = {
    "outside": "agent_failed",
    "passwd": "symlink_outside_repo",
    "gitconfig": "git_dir",
    "huge": "diff_too_large",
    "fails": "agent_failed",
}


def agents_file(tmp: Path) -> Path:
    lines = []
    for name, code in HOSTILE.items():
        lines += [
            f"[agents.{name}]",
            f"argv = [{sys.executable!r}, '-c', {code!r}]",
            "timeout = 60",
            "final_exit_codes = [3]",
            "",
        ]
    path = tmp / "agents.toml"
    path.write_text("\n".join(lines))
    return path


def test_hostile_command_agents_are_tombstoned_with_the_precise_reason(box: World) -> None:
    box.start_server(workers=2, env={"FARCASTER_AGENTS_FILE": str(agents_file(box.root))})
    issues = {}
    for agent in sorted(HOSTILE):
        issues[agent] = box.open_issue(f"{agent} agent")
        box.comment(issues[agent], f"/farcaster run {agent} do your worst")
    jobs = {job.agent: job for job in box.jobs()}
    assert sorted(jobs) == sorted(HOSTILE)
    for agent, job in jobs.items():
        job = box.wait_for_state(job.id, JobState.TOMBSTONED, JobState.DONE, timeout=90)
        assert job.state is JobState.TOMBSTONED, agent
    box.wait_for_outbox()
    reasons = {}
    for agent, job in jobs.items():
        tombstone = box.store.tombstone(job.id)
        assert tombstone is not None
        reasons[agent] = tombstone.reason_code
        (report,) = bot_comments(box, issues[agent])
        assert tombstone.summary.split(".")[0] in report
    # Without a sandbox (a machine without bwrap) the write outside lands, unseen by the diff.
    expected = EXPECTED_REASON if box.sandbox else {**EXPECTED_REASON, "outside": "empty_diff"}
    assert reasons == expected
    assert box.state()["farcaster_branches"] == {}  # nothing pushed
    assert box.state()["pulls"]["total"] == 0
