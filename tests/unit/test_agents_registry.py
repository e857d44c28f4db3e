"""The agents file is read once; a change is validated before use and a bad one is ignored."""

import logging
import os
import signal
from pathlib import Path

import pytest

from bot.agents import registry as registry_module
from bot.agents.registry import LiveRegistry
from bot.cli.commands.worker import install_reload_signal
from bot.core.errors import ConfigurationError
from bot.core.settings import Settings

GOOD = '[agents.coder]\nargv = ["coder"]\n'
SHADOWING = '[agents.rename]\nargv = ["x"]\n'  # the edit that tombstoned every run job


def write(path: Path, text: str, *, tick: int) -> None:
    """Write ``text`` with a modification time of its own (file systems round mtimes)."""
    path.write_text(text)
    os.utime(path, ns=(tick * 10**9, tick * 10**9))


@pytest.fixture
def agents_file(tmp_path: Path) -> Path:
    path = tmp_path / "agents.toml"
    write(path, GOOD, tick=1_000)
    return path


def live(path: Path) -> LiveRegistry:
    return LiveRegistry.load(Settings(agents_file=path, _env_file=None))


def test_a_bad_agents_file_is_refused_at_start(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(SHADOWING)
    with pytest.raises(ConfigurationError, match=r"\[agents.rename\].*built-in"):
        live(path)


def test_the_file_is_not_read_again_while_it_is_unchanged(
    agents_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = []
    original = registry_module.load_command_agents
    monkeypatch.setattr(
        registry_module, "load_command_agents", lambda path: reads.append(path) or original(path)
    )
    registry = live(agents_file)
    first = registry.current()
    assert [registry.current() for _ in range(5)] == [first] * 5
    assert reads == [agents_file]


def test_a_bad_edit_keeps_the_last_good_agents_and_says_so_once(
    agents_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = live(agents_file)
    write(agents_file, SHADOWING, tick=2_000)
    with caplog.at_level(logging.WARNING, logger="bot.agents.registry"):
        names = [registry.current().names() for _ in range(3)]
    assert names == [["coder", "rename", "replace"]] * 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "last good one stays in use" in warnings[0]
    assert "[agents.rename]" in warnings[0]


def test_a_good_edit_is_used_at_the_next_job(agents_file: Path) -> None:
    registry = live(agents_file)
    write(agents_file, GOOD + '[agents.fixer]\nargv = ["fixer"]\n', tick=2_000)
    assert registry.current().names() == ["coder", "fixer", "rename", "replace"]


def test_a_deleted_file_keeps_the_last_good_agents(agents_file: Path) -> None:
    registry = live(agents_file)
    agents_file.unlink()
    assert "coder" in registry.current().names()


def test_sighup_reloads_even_when_the_file_looks_unchanged(agents_file: Path) -> None:
    registry = live(agents_file)
    other = GOOD.replace("coder", "other")
    write(agents_file, other, tick=1_000)  # same size and time as before: invisible to stat
    assert "coder" in registry.current().names()
    registry.request_reload()
    assert registry.current().names() == ["other", "rename", "replace"]


def test_the_reload_signal_is_sighup(agents_file: Path) -> None:
    registry = live(agents_file)
    write(agents_file, GOOD.replace("coder", "other"), tick=1_000)  # invisible to stat
    previous = signal.getsignal(signal.SIGHUP)
    try:
        install_reload_signal(registry)
        os.kill(os.getpid(), signal.SIGHUP)
        assert registry.current().names() == ["other", "rename", "replace"]
    finally:
        signal.signal(signal.SIGHUP, previous)
