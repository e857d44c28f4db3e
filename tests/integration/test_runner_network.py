"""An agent's network, for real in the sandbox: an allowlist reaches exactly its hosts
through the egress proxy, every refusal becomes an event, and no network means none."""

import http.server
import json
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import respx

from bot.app.runtime import Runtime
from bot.core.records import JobState, Phase
from bot.core.verdict import verdict_from_json
from bot.core.vocab import EventKind
from bot.worker.loop import WorkerLoop
from bot.worker.runner import run_job
from tests.runner_support import github_factory, job_spec, mock_github, sample_repository, tarball
from tests.worker_round import one_round

PY = sys.executable
VERIFY_SAMPLE = Path(__file__).parents[1] / "samples" / "verify_repo"
# Tries three ways out and writes what happened into README.md (so there is a diff).
FETCH = """
import os, socket, sys, urllib.error, urllib.request
allowed, other = sys.argv[1], sys.argv[2]
lines = []
def fetch(label, url):
    try:
        lines.append(f"{label}: " + urllib.request.urlopen(url, timeout=10).read().decode().strip())
    except urllib.error.HTTPError as exc:
        lines.append(f"{label}: HTTP {exc.code}")
    except OSError as exc:
        lines.append(f"{label}: {type(exc).__name__}")
fetch("allowed", f"http://127.0.0.1:{allowed}/from-the-sandbox")
try:  # CONNECT, as HTTPS clients, pip and git do
    import http.client, urllib.parse
    proxy = urllib.parse.urlsplit(os.environ["HTTPS_PROXY"])
    tunnel = http.client.HTTPConnection(proxy.hostname, proxy.port, timeout=10)
    tunnel.set_tunnel("127.0.0.1", int(allowed))
    tunnel.request("GET", "/through-a-tunnel")
    lines.append("tunnel: " + tunnel.getresponse().read().decode().strip())
except (KeyError, OSError) as exc:
    lines.append(f"tunnel: {type(exc).__name__}")
fetch("other", f"http://127.0.0.1:{other}/")
try:
    socket.create_connection(("127.0.0.1", int(allowed)), timeout=5).close()
    lines.append("direct: connected")
except OSError as exc:
    lines.append(f"direct: {type(exc).__name__}")
lines.append("proxy variable: " + str("HTTPS_PROXY" in os.environ))
open("README.md", "a").write("\\n".join(lines) + "\\n")
"""


class _Hello(http.server.BaseHTTPRequestHandler):
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b"hello from the allowed server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def allowed_server() -> Iterator[tuple[int, list[str]]]:
    paths: list[str] = []
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), type("H", (_Hello,), {"paths": paths})
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], paths
    server.shutdown()
    server.server_close()


@pytest.fixture
def other_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def agents_file(folder: Path, allowed: int, other: int) -> Path:
    (folder / "fetch.py").write_text(FETCH)
    path = folder / "agents.toml"
    path.write_text(
        f"""
[agents.fetcher]
argv = ["{PY}", "{folder}/fetch.py", "{allowed}", "{other}"]
read_only = ["{folder}"]
network = ["127.0.0.1:{allowed}"]

[agents.offline]
argv = ["{PY}", "{folder}/fetch.py", "{allowed}", "{other}"]
read_only = ["{folder}"]
"""
    )
    return path


@pytest.fixture
def runtime(settings, tmp_path, allowed_server, other_port) -> Iterator[Runtime]:
    (tmp_path / "agents").mkdir()
    agents = agents_file(tmp_path / "agents", allowed_server[0], other_port)
    configured = settings.model_copy(
        update={"scratch_dir": tmp_path / "scratch", "agents_file": agents}
    )
    rt = Runtime.from_settings(configured, github=github_factory(configured))
    yield rt
    rt.close()


def run_agent(runtime: Runtime, tmp_path: Path, agent: str) -> str:
    repository, sha = sample_repository(tmp_path / "origin")
    with respx.mock(assert_all_called=False) as router:
        mock_github(router, tarball(repository, sha), sha)
        command = {"name": "run", "agent": agent, "instruction": "fetch"}
        runtime.store.enqueue(job_spec(command, sha=sha, agent=agent))
        loop = WorkerLoop(runtime, worker_id="runner-1", handlers={Phase.RUN: run_job})
        assert one_round(loop) == 1
    job = runtime.store.get("job1")
    assert job.state is JobState.PROPOSED, runtime.store.events("job1")[-1].data
    proposal = runtime.store.latest_proposal("job1")
    assert proposal is not None
    return proposal.diff


def test_an_allowlisted_agent_reaches_its_host_and_nothing_else(
    runtime, tmp_path, allowed_server, other_port
) -> None:
    _, paths = allowed_server
    diff = run_agent(runtime, tmp_path, "fetcher")

    assert "+allowed: hello from the allowed server" in diff
    assert "+tunnel: hello from the allowed server" in diff
    assert "+other: HTTP 403" in diff
    # Its own 127.0.0.1 is the sandbox's: the host's servers are not there.
    assert "+direct: ConnectionRefusedError" in diff
    assert paths == ["/from-the-sandbox", "/through-a-tunnel"]
    blocked = [e.data for e in runtime.store.events("job1") if e.kind is EventKind.EGRESS_BLOCKED]
    assert blocked == [
        {
            "target": f"127.0.0.1:{other_port}",
            "reason": "not_allowed",
            "count": 1,
            "message": f"blocked: 127.0.0.1:{other_port} (not in the agent's network allowlist)",
        }
    ]


def test_an_agent_without_network_reaches_nothing(runtime, tmp_path, allowed_server) -> None:
    _, paths = allowed_server
    diff = run_agent(runtime, tmp_path, "offline")

    assert "+allowed: URLError" in diff
    assert "+tunnel: KeyError" in diff  # no proxy to tunnel through
    assert "+direct: ConnectionRefusedError" in diff
    assert "+proxy variable: False" in diff
    assert paths == []


def test_the_verify_step_reaches_what_farcaster_verify_network_allows(
    settings, tmp_path, allowed_server, other_port
) -> None:
    allowed, paths = allowed_server
    check = (
        "import sys, urllib.error, urllib.request\n"
        f"urllib.request.urlopen('http://127.0.0.1:{allowed}/from-verify', timeout=10)\n"
        "try:\n"
        f"    urllib.request.urlopen('http://127.0.0.1:{other_port}/', timeout=10)\n"
        "except urllib.error.HTTPError as exc:\n"
        "    sys.exit(0 if exc.code == 403 else 1)\n"
        "sys.exit(1)\n"
    )
    source = tmp_path / "source"
    shutil.copytree(VERIFY_SAMPLE, source)
    (source / ".github" / "farcaster.yml").write_text(
        f"verify:\n  run: {json.dumps([PY, '-c', check])}\n  compare_with_base: false\n"
    )
    repository, sha = sample_repository(tmp_path / "origin", source)
    configured = settings.model_copy(
        update={
            "scratch_dir": tmp_path / "scratch",
            "verify_network": [f"127.0.0.1:{allowed}"],
        }
    )
    runtime = Runtime.from_settings(configured, github=github_factory(configured))
    try:
        with respx.mock(assert_all_called=False) as router:
            mock_github(router, tarball(repository, sha), sha)
            command = {"name": "rename", "old": "scale", "new": "resize", "paths": []}
            runtime.store.enqueue(job_spec(command, sha=sha))
            loop = WorkerLoop(runtime, worker_id="runner-1", handlers={Phase.RUN: run_job})
            assert one_round(loop) == 1
        proposal = runtime.store.latest_proposal("job1")
        assert proposal is not None
        verdict = verdict_from_json(proposal.verify)
        assert verdict is not None and verdict.outcome == "passed", verdict
        assert paths == ["/from-verify"]
        blocked = [
            e.data["target"]
            for e in runtime.store.events("job1")
            if e.kind is EventKind.EGRESS_BLOCKED
        ]
        assert blocked == [f"127.0.0.1:{other_port}"]
    finally:
        runtime.close()
