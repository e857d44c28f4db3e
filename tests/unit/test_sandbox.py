"""The sandbox's pure parts: the bwrap command line, the limits' argv, how a run ended."""

import signal
from pathlib import Path

import pytest

from bot.sandbox.bwrap import (
    CHECKOUT,
    HOME,
    PROXY_SOCKET,
    Layout,
    Network,
    bwrap_argv,
    minimal_cover,
)
from bot.sandbox.limits import Limits, rlimit_argv
from bot.sandbox.process import ProcessOutcome
from bot.sandbox.run import limit_reason, start_failure
from bot.sandbox.uids import NoFreeUid, hold_uid


def outcome(exit_code: int | None = 1, output: str = "", **extra: object) -> ProcessOutcome:
    fields = {"timed_out": False, "stopped": False, "seconds": 0.1, **extra}
    return ProcessOutcome(exit_code=exit_code, output=output, **fields)  # type: ignore[arg-type]


def test_the_checkout_and_home_are_the_only_writable_binds(tmp_path: Path) -> None:
    argv = bwrap_argv(Layout(tmp_path / "w", tmp_path / "h", (Path("/opt/tool"),)))
    binds = [argv[i + 1 : i + 3] for i, a in enumerate(argv) if a == "--bind"]
    assert binds == [[str(tmp_path / "w"), CHECKOUT], [str(tmp_path / "h"), HOME]]
    assert argv[argv.index("/opt/tool") - 1 :][:3] == ["--ro-bind", "/opt/tool", "/opt/tool"]
    for flag in ("--unshare-pid", "--unshare-net", "--die-with-parent", "--new-session"):
        assert flag in argv
    assert argv[-1] == "--" and argv[argv.index("--remount-ro") + 1] == "/"


def test_network_host_keeps_the_host_network_and_a_socket_is_bound_read_only(
    tmp_path: Path,
) -> None:
    host = bwrap_argv(Layout(tmp_path, tmp_path, network=Network.host()))
    assert "--unshare-net" not in host
    sock = tmp_path / "proxy.sock"
    via = bwrap_argv(Layout(tmp_path, tmp_path, network=Network.through_socket(sock, {})))
    assert "--unshare-net" in via
    assert ["--ro-bind", str(sock), PROXY_SOCKET] == via[via.index(str(sock)) - 1 :][:3]


def test_folders_above_binds_are_made_traversable(tmp_path: Path) -> None:
    # bwrap would create them mode 0700, closed to the agent's uid.
    argv = bwrap_argv(Layout(tmp_path, tmp_path, (Path("/opt/a/b"),)))
    for folder in ("/opt", "/opt/a", "/home", "/etc"):
        at = argv.index(folder)
        assert argv[at - 3 : at] == ["--perms", "0755", "--dir"]


def test_a_bind_inside_another_is_left_out() -> None:
    paths = {Path("/usr"), Path("/usr/lib/python3"), Path("/")}
    assert minimal_cover({Path("/usr/lib"), Path("/usr/lib/python3")}) == (Path("/usr/lib"),)
    assert minimal_cover(paths) == (Path("/"),)


def test_nproc_is_set_only_under_a_uid_of_its_own() -> None:
    limits = Limits(cpu_seconds=7, processes=9)
    assert "--cpu=7:8" in rlimit_argv(limits, nproc=False)
    assert not any(a.startswith("--nproc") for a in rlimit_argv(limits, nproc=False))
    assert "--nproc=9" in rlimit_argv(limits, nproc=True)


@pytest.mark.parametrize(
    ("exit_code", "output", "reason"),
    [
        (128 + signal.SIGXCPU, "", "agent_cpu_limit"),
        (128 + signal.SIGXFSZ, "", "agent_disk_limit"),
        (1, "OSError: [Errno 28] No space left on device", "agent_disk_limit"),
        (1, "OSError: [Errno 27] File too large", "agent_disk_limit"),
        (1, "MemoryError", "agent_memory_limit"),
        (2, "sh: 1: Cannot fork", "agent_process_limit"),
        (1, "Traceback: ValueError", None),
        (0, "MemoryError", None),  # it printed the word, but it succeeded
    ],
)
def test_how_a_run_ended_is_read_from_its_status_and_last_words(
    exit_code: int, output: str, reason: str | None
) -> None:
    assert limit_reason(outcome(exit_code, output)) == reason


def test_a_limit_the_watch_saw_comes_first() -> None:
    assert limit_reason(outcome(None, killed_for="agent_output_limit")) == "agent_output_limit"


def test_a_program_that_cannot_start_is_told_apart() -> None:
    said = "prlimit: failed to execute /no/tool: No such file or directory\n"
    assert start_failure(outcome(127, said)) == "/no/tool: No such file or directory"
    assert start_failure(outcome(127, "tool: my own error\n")) is None


def test_concurrent_runs_get_different_uids_and_give_them_back(tmp_path: Path) -> None:
    with hold_uid(tmp_path, 5000, 2) as first, hold_uid(tmp_path, 5000, 2) as second:
        assert {first, second} == {5000, 5001}
        with pytest.raises(NoFreeUid), hold_uid(tmp_path, 5000, 2):
            pass
    with hold_uid(tmp_path, 5000, 2) as again:
        assert again == 5000
