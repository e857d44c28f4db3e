"""Command agents: real programs, a scrubbed environment, bounded time and output."""

import json
import os
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.agents.base import AgentLimits, AgentRequest
from bot.agents.command import CommandAgent, CommandAgentConfig, load_command_agents
from bot.agents.registry import load_registry, warn_about_host_network
from bot.core.errors import AgentFailed, ConfigurationError, LeaseLost
from bot.core.redaction import REDACTED, Redactor
from bot.core.settings import Settings

PY = sys.executable
WEBHOOK_SECRET = "webhook-secret-value-1234"
DATABASE_URL = "postgresql+psycopg://farcaster:db-password-999@db.internal/farcaster"
GITHUB_TOKEN = "ghs_" + "T" * 36


@pytest.fixture
def secrets_in_parent_env(monkeypatch, rsa_private_key_pem):
    """What a worker's environment holds in production."""
    monkeypatch.setenv("FARCASTER_WEBHOOK_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("FARCASTER_GITHUB_PRIVATE_KEY", rsa_private_key_pem)
    monkeypatch.setenv("FARCASTER_DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("GITHUB_TOKEN", GITHUB_TOKEN)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("MY_API_KEY", "key-for-the-coding-agent")
    monkeypatch.setenv("LEAKY", f"prefix {GITHUB_TOKEN}")
    return [WEBHOOK_SECRET, rsa_private_key_pem, DATABASE_URL, GITHUB_TOKEN]


@pytest.fixture
def work(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "home").mkdir()
    return tmp_path


def agent(code=None, *, argv=None, kill_grace=0.2, **config):
    argv = argv or [PY, "-c", code]
    return CommandAgent("tool", CommandAgentConfig(argv=argv, **config), kill_grace=kill_grace)


def run(the_agent, work, *, instruction="do it", timeout=30.0, stop=None, redactor=None):
    request = AgentRequest(
        checkout=work / "work",
        command={"name": "run", "agent": "tool", "instruction": instruction},
        limits=AgentLimits(timeout=timeout, max_log_bytes=64 * 1024),
        stop=stop or threading.Event(),
        home=work / "home",
        redactor=redactor or Redactor(),
    )
    return the_agent.run(request)


def dead(pid: int) -> bool:
    """Dead or a zombie (PID 1 in a container may not reap orphans)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def gone(pid: int, within: float = 5.0) -> bool:
    """Whether ``pid`` dies within ``within`` seconds (a SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + within
    while not dead(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


DUMP_ENV = "import json, os; open('env.json', 'w').write(json.dumps(dict(os.environ)))"


def test_the_agent_sees_only_path_home_lang_and_what_the_config_names(work, secrets_in_parent_env):
    run(agent(DUMP_ENV, env=["MY_API_KEY", "LEAKY", "NOT_SET"]), work)
    env = json.loads((work / "work" / "env.json").read_text())
    assert set(env) == {"PATH", "HOME", "LANG", "MY_API_KEY"}
    assert env["HOME"] == str(work / "home")
    assert env["MY_API_KEY"] == "key-for-the-coding-agent"


def test_no_secret_reaches_the_agent_in_any_form(work, secrets_in_parent_env):
    run(agent(DUMP_ENV, env=["MY_API_KEY", "LEAKY"]), work)
    raw = (work / "work" / "env.json").read_text()
    for secret in secrets_in_parent_env:
        assert json.dumps(secret)[1:-1] not in raw
    assert "BEGIN PRIVATE KEY" not in raw
    assert "FARCASTER" not in raw


def test_the_log_is_redacted_even_when_the_agent_prints_a_secret(work):
    code = "import sys; print('got', sys.argv[1]); print('and ghp_' + 'x' * 30)"
    result = run(
        agent(argv=[PY, "-c", code, "{instruction}"]),
        work,
        instruction=f"use {WEBHOOK_SECRET}",
        redactor=Redactor([WEBHOOK_SECRET]),
    )
    assert WEBHOOK_SECRET not in result.log
    assert "ghp_xxx" not in result.log
    assert result.log.count(REDACTED) == 2


def test_the_instruction_is_one_argument_and_never_reaches_a_shell(work):
    code = "import sys, json; open('argv.json', 'w').write(json.dumps(sys.argv[1:]))"
    nasty = "'; touch pwned; echo '$(id)"
    run(
        agent(argv=[PY, "-c", code, "--message={instruction}", "{instruction}"]),
        work,
        instruction=nasty,
    )
    assert json.loads((work / "work" / "argv.json").read_text()) == [f"--message={nasty}", nasty]
    assert not (work / "work" / "pwned").exists()


SPAWN_AND_HANG = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
    "open('child.pid', 'w').write(str(child.pid))\n"
    "print('working', flush=True)\n"
    "time.sleep(600)\n"
)


def test_an_agent_past_its_timeout_is_killed_with_its_children_and_may_be_retried(work):
    started = time.monotonic()
    with pytest.raises(AgentFailed) as caught:
        run(agent(SPAWN_AND_HANG, timeout=1.0), work)
    error = caught.value
    assert error.reason_code == "agent_timeout"
    assert error.retryable
    assert "ran past its 1 s timeout" in error.message
    assert "Last output: working" in error.message
    assert time.monotonic() - started < 10
    assert gone(int((work / "work" / "child.pid").read_text()))


def test_an_agent_ignoring_sigterm_is_killed_after_the_grace_period(work):
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    started = time.monotonic()
    with pytest.raises(AgentFailed):
        run(agent(code, timeout=0.5, kill_grace=0.2), work)
    assert time.monotonic() - started < 10


def test_the_request_timeout_applies_when_the_config_sets_none(work):
    with pytest.raises(AgentFailed) as caught:
        run(agent("import time; time.sleep(600)"), work, timeout=0.3)
    assert "ran past its 0.3 s timeout" in caught.value.message


def test_a_lost_lease_stops_the_agent_and_its_children(work):
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    with pytest.raises(LeaseLost):
        run(agent("import time; time.sleep(600)"), work, stop=stop)
    assert time.monotonic() - started < 10


def test_helpers_left_running_after_a_normal_exit_are_killed(work):
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],\n"
        "                         stdout=subprocess.DEVNULL)\n"
        "open('child.pid', 'w').write(str(child.pid))\n"
    )
    run(agent(code), work)
    assert gone(int((work / "work" / "child.pid").read_text()))


def test_an_exit_code_listed_as_final_is_not_retried(work):
    with pytest.raises(AgentFailed) as caught:
        run(agent("import sys; print('cannot do that'); sys.exit(3)", final_exit_codes=[3]), work)
    error = caught.value
    assert (error.reason_code, error.retryable) == ("agent_failed", False)
    assert "exited with status 3 (final" in error.message
    assert "Last output: cannot do that" in error.message


def test_any_other_failing_exit_code_may_be_retried(work):
    with pytest.raises(AgentFailed) as caught:
        run(agent("import sys; sys.exit(4)", final_exit_codes=[3]), work)
    assert (caught.value.reason_code, caught.value.retryable) == ("agent_failed", True)


def test_a_program_that_does_not_exist_is_refused(work):
    with pytest.raises(AgentFailed) as caught:
        run(agent(argv=["/no/such/agent-binary"]), work)
    assert caught.value.reason_code == "agent_unavailable"
    assert not caught.value.retryable


def test_long_output_is_kept_as_head_and_tail_within_the_bound(work):
    code = "print('FIRST'); print('x' * 1_000_000); print('LAST')"
    result = run(agent(code, max_output_bytes=4096), work)
    assert len(result.log.encode()) <= 4096
    assert result.log.startswith("FIRST")
    assert result.log.rstrip().endswith("LAST")


def test_the_agents_verify_becomes_the_runners_verify_step(work):
    plain = agent("print('ok')", verify=[PY, "-m", "pytest"])
    config = plain.verify_config(default_timeout=300)
    assert config is not None
    assert (config.run, config.must_pass, config.timeout) == ([PY, "-m", "pytest"], False, 300)
    strict = agent("print('ok')", verify=["t"], verify_must_pass=True, timeout=20)
    assert strict.verify_config(default_timeout=300).must_pass is True
    assert strict.verify_config(default_timeout=300).timeout == 20
    assert agent("print('ok')").verify_config(default_timeout=300) is None


def test_the_agent_itself_no_longer_runs_its_verify(work):
    result = run(agent("print('ok')", verify=[PY, "-c", "open('ran', 'w')"]), work)
    assert result.log.strip() == "ok"
    assert not (work / "work" / "ran").exists()


# -- configuration ------------------------------------------------------------------------


def write_agents(tmp_path, text):
    path = tmp_path / "agents.toml"
    path.write_text(text)
    return path


def test_the_agents_file_defines_command_agents(tmp_path):
    path = write_agents(
        tmp_path,
        """
        [agents.coder]
        argv = ["coder", "--message={instruction}"]
        timeout = 600
        env = ["ANTHROPIC_API_KEY"]
        verify = ["pytest", "-q"]
        verify_must_pass = true
        final_exit_codes = [2]
        """,
    )
    coder = load_command_agents(path)["coder"]
    assert coder.config.argv == ["coder", "--message={instruction}"]
    assert coder.config.timeout == 600
    assert coder.version.startswith("config-")


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('argv = ["x"]\nenv = ["FARCASTER_WEBHOOK_SECRET"]', "credentials"),
        ('argv = ["x"]\nenv = ["GITHUB_TOKEN"]', "credentials"),
        ('argv = ["x"]\nenv = ["NOT A NAME"]', "not an environment variable name"),
        ('argv = ["x"]\ntimeot = 5', "timeot"),
        ("argv = []", "argv"),
        ('argv = ["x"]\ntimeout = -1', "timeout"),
        ('argv = ["x"]\nnetwork = ["pypi.org"]', "not host:port"),
        ('argv = ["x"]\nnetwork = ["*.example.com:443"]', "not a host name"),
        ('argv = ["x"]\nnetwork = "everything"', "network"),
    ],
)
def test_a_wrong_agents_file_is_a_clear_configuration_error(tmp_path, table, complaint):
    path = write_agents(tmp_path, f"[agents.bad]\n{table}\n")
    with pytest.raises(ConfigurationError, match=complaint) as caught:
        load_command_agents(path)
    assert "[agents.bad]" in caught.value.message


def test_an_agents_file_that_is_not_toml_or_missing_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_command_agents(write_agents(tmp_path, "[agents.x\n"))
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_command_agents(tmp_path / "missing.toml")


def test_the_registry_has_the_builtins_and_the_command_agents(tmp_path):
    path = write_agents(tmp_path, '[agents.coder]\nargv = ["coder"]\ntimeout = 900\nverify = ["t"]')
    settings = Settings(agents_file=path, agent_timeout_seconds=300, _env_file=None)
    registry = load_registry(settings)
    assert registry.names() == ["coder", "rename", "replace"]
    assert registry.longest_timeout(settings.agent_timeout_seconds) >= 1800


def test_a_command_agent_may_not_take_a_builtin_name(tmp_path):
    path = write_agents(tmp_path, '[agents.rename]\nargv = ["x"]')
    with pytest.raises(ConfigurationError, match="built-in"):
        load_registry(Settings(agents_file=path, _env_file=None))


def test_an_unknown_agent_is_refused_with_the_known_names():
    with pytest.raises(AgentFailed) as caught:
        load_registry(Settings(_env_file=None)).get("gpt")
    assert caught.value.reason_code == "unknown_agent"
    assert "rename, replace" in caught.value.message
    assert not caught.value.retryable


def test_the_worker_environment_is_not_modified(work, secrets_in_parent_env):
    before = dict(os.environ)
    run(agent(DUMP_ENV), work)
    assert dict(os.environ) == before


def test_an_agent_network_is_none_an_allowlist_or_host(tmp_path):
    path = write_agents(
        tmp_path,
        """
        [agents.offline]
        argv = ["x"]
        [agents.fetcher]
        argv = ["x"]
        network = ["pypi.org:443", "files.pythonhosted.org:443"]
        [agents.wide]
        argv = ["x"]
        network = "host"
        """,
    )
    agents = load_command_agents(path)
    assert agents["offline"].config.network == "none"
    assert agents["fetcher"].config.network == ["pypi.org:443", "files.pythonhosted.org:443"]
    assert agents["wide"].config.network == "host"


def test_the_worker_warns_at_start_about_an_agent_on_the_host_network(tmp_path, caplog):
    path = write_agents(
        tmp_path, '[agents.wide]\nargv = ["x"]\nnetwork = "host"\n[agents.safe]\nargv = ["x"]'
    )
    registry = load_registry(Settings(agents_file=path, _env_file=None))
    with caplog.at_level("WARNING", logger="bot.agents.registry"):
        assert warn_about_host_network(registry) == ["wide"]
    (record,) = caplog.records
    assert 'agent wide has network = "host"' in record.getMessage()
    assert "UNSAFE" in record.getMessage()
