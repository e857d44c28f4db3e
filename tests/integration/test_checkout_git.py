"""The runner's own git: nothing the agent wrote runs, and nothing it did to git is dropped."""

import os
import subprocess
import time

import pytest

from bot.core.errors import AgentFailed
from bot.worker.checkout import commit_base, diff_against_base, give_agent_a_repository, run_git
from tests.runner_support import git


def snapshot_of(tmp_path, files, *, agent_git=False):
    work = tmp_path / "s" / "work"
    for path, content in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    work.mkdir(parents=True, exist_ok=True)
    snap = commit_base(tmp_path / "s", "f" * 40)
    if agent_git:
        give_agent_a_repository(snap)
    return snap


def git_dir_refusal(snap) -> str:
    with pytest.raises(AgentFailed) as caught:
        diff_against_base(snap)
    assert caught.value.reason_code == "git_dir"
    assert not caught.value.retryable
    return caught.value.message


def plant_filter(git_dir, marker) -> None:
    """What a hostile agent writes: a clean filter that would leave ``marker`` behind."""
    with (git_dir / "config").open("a") as config:
        config.write(f'[filter "evil"]\n\tclean = "touch {marker}; cat"\n\trequired = true\n')
    (git_dir / "info").mkdir(exist_ok=True)
    (git_dir / "info" / "attributes").write_text("* filter=evil\n")


def test_an_edit_to_the_agents_own_git_config_is_refused_not_dropped(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"}, agent_git=True)
    (snap.work / "a.py").write_text("x = 2\n")
    with (snap.work / ".git" / "config").open("a") as config:
        config.write("[core]\n\tpager = evil\n")
    assert "`.git/config`" in git_dir_refusal(snap)


@pytest.mark.parametrize(
    ("path", "named"),
    [
        (".GIT/config", ".GIT"),
        (".Git/HEAD", ".Git"),
        ("vendor/lib/.git/config", "vendor/lib/.git"),
        ("sub/.git", "sub/.git"),  # a gitfile
        (".git./x", ".git."),
    ],
)
def test_any_spelling_of_git_anywhere_in_the_tree_is_refused_by_name(tmp_path, path, named):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    (snap.work / path).parent.mkdir(parents=True, exist_ok=True)
    (snap.work / path).write_text("[core]\n")
    assert f"`{named}`" in git_dir_refusal(snap)


def test_a_new_hook_in_the_agents_copy_is_refused(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"}, agent_git=True)
    (snap.work / ".git" / "hooks" / "pre-commit").write_text("#!/bin/sh\n")
    assert "`.git/hooks/`" in git_dir_refusal(snap)


def test_an_agent_may_use_its_copy_of_git_for_bookkeeping(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"}, agent_git=True)
    (snap.work / "a.py").write_text("x = 2\n")
    git(snap.work, "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qam", "agent")
    git(snap.work, "status", "--porcelain")
    assert b"-x = 1\n+x = 2\n" in diff_against_base(snap)


def test_a_clean_filter_planted_in_any_git_config_the_agent_reaches_never_runs(tmp_path):
    marker = tmp_path / "the-filter-ran"
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"}, agent_git=True)
    (snap.work / "a.py").write_text("x = 2\n")
    (snap.work / ".gitattributes").write_text("* filter=evil\n")
    plant_filter(snap.work / ".git", marker)  # the agent's copy
    plant_filter(snap.git_dir, marker)  # ../base.git, the runner's repository
    message = git_dir_refusal(snap)
    for path in ("../base.git/config", "../base.git/info/attributes", ".git/config"):
        assert f"`{path}`" in message
    assert not marker.exists()


def test_a_filter_named_only_by_gitattributes_in_the_tree_does_not_run(tmp_path):
    marker = tmp_path / "the-filter-ran"
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    (snap.work / ".gitattributes").write_text("* filter=evil\n")
    (snap.work / "a.py").write_text("x = 2\n")
    diff = diff_against_base(snap)
    assert b"+* filter=evil" in diff and b"+x = 2" in diff
    assert not marker.exists()


def test_the_runners_git_ignores_user_and_system_configuration(tmp_path, monkeypatch):
    marker = tmp_path / "the-filter-ran"
    home = tmp_path / "home-of-the-worker"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[filter "evil"]\n\tclean = "touch {marker}; cat"\n')
    (home / ".gitattributes").write_text("* filter=evil\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.attributesFile'='~/.gitattributes'")
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    (snap.work / "a.py").write_text("x = 2\n")
    assert b"+x = 2" in diff_against_base(snap)
    assert not marker.exists()


def test_a_git_call_past_its_timeout_is_killed_with_its_children_and_says_so(tmp_path):
    # A repository set up by hand (not by the agent) with a filter that hangs: the case the
    # timeout is for is whatever else could make git slow.
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("x\n")
    git_dir = tmp_path / "slow.git"
    run_git(git_dir, work, "init", "--quiet")
    pid_file = tmp_path / "filter.pid"
    with (git_dir / "config").open("a") as config:
        config.write(f'[filter "slow"]\n\tclean = "echo $$ > {pid_file}; sleep 60; cat"\n')
    (git_dir / "info").mkdir(exist_ok=True)
    (git_dir / "info" / "attributes").write_text("* filter=slow\n")
    started = time.monotonic()
    with pytest.raises(AgentFailed) as caught:
        run_git(git_dir, work, "add", "--all", timeout=1.0)
    assert time.monotonic() - started < 10
    assert caught.value.reason_code == "git_timeout" and caught.value.retryable
    assert "git add" in caught.value.message and "1 s" in caught.value.message
    pid = int(pid_file.read_text())
    assert _gone(pid)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # Killed but not yet reaped by its parent (also killed): a zombie is gone too.
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return state.stdout.strip().startswith("Z") or not state.stdout.strip()


def test_the_agents_git_copy_replaced_by_a_link_is_refused(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"}, agent_git=True)
    elsewhere = tmp_path / "elsewhere"
    (snap.work / ".git").rename(elsewhere)
    (snap.work / ".git").symlink_to(elsewhere)
    assert "`.git`" in git_dir_refusal(snap)


def test_an_agent_without_a_git_copy_may_not_make_one(tmp_path):
    snap = snapshot_of(tmp_path, {"a.py": b"x = 1\n"})
    git(snap.work, "init", "-q")
    assert "`.git`" in git_dir_refusal(snap)
