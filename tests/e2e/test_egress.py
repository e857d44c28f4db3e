"""An agent's network allowlist, seen from GitHub's side (real processes, the sandbox where
bwrap works): an allowed local server answers from inside, a host not allowed is refused,
and the refusal is listed on the PR, its check run and a stopped job's report."""

import http.server
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.records import JobState
from bot.emulator.world import World

pytestmark = pytest.mark.e2e

FETCH = """
import sys, urllib.error, urllib.request
results = []
for url in sys.argv[1:]:
    try:
        results.append(urllib.request.urlopen(url, timeout=10).read().decode().strip())
    except urllib.error.HTTPError as exc:
        results.append(f"HTTP {exc.code}")
open("README.md", "a").write("\\n".join(results) + "\\n")
sys.exit(3 if results[0].startswith("HTTP") else 0)
"""


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the allowed server\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def allowed() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def evil() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def agents_file(folder: Path, allowed: int, evil: int) -> Path:
    (folder / "fetch.py").write_text(FETCH)
    good = f"http://127.0.0.1:{allowed}/"
    bad = f"http://127.0.0.1:{evil}/exfiltrate"
    lines = []
    for name, urls in {"fetcher": [good, bad], "sneaky": [bad]}.items():
        argv = [sys.executable, str(folder / "fetch.py"), *urls]
        lines += [
            f"[agents.{name}]",
            f"argv = {json.dumps(argv)}",  # a JSON string is a TOML basic string
            f"read_only = {json.dumps([str(folder)])}",
            f'network = ["127.0.0.1:{allowed}"]',
            "final_exit_codes = [3]",
            "",
        ]
    path = folder / "agents.toml"
    path.write_text("\n".join(lines))
    return path


def test_an_allowlisted_agent_is_answered_and_its_refusals_are_listed(
    box: World, allowed: int, evil: int
) -> None:
    box.start_server(
        workers=1, env={"FARCASTER_AGENTS_FILE": str(agents_file(box.root, allowed, evil))}
    )
    blocked = f"blocked: 127.0.0.1:{evil} (not in the agent's network allowlist)"

    issue = box.open_issue("fetch")
    box.comment(issue, "/farcaster run fetcher fetch it")
    job = box.wait_for_state(box.only_job().id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    readme = box.gh.files("acme", "inventory", ref=job.branch)["README.md"]
    assert readme.endswith("hello from the allowed server\nHTTP 403\n")
    client = box.github_client()
    (pull,) = client.find_pulls_by_head(box.owner, box.repo, f"acme:{job.branch}")
    assert f"| Network | {blocked} |" in pull["body"]
    runs = client.list_check_runs(box.owner, box.repo, job.branch, name="farcaster")
    assert any(blocked in run["output"]["summary"] for run in runs)

    issue = box.open_issue("sneak")
    box.comment(issue, "/farcaster run sneaky try")
    (sneaky,) = [j for j in box.jobs() if j.agent == "sneaky"]
    sneaky = box.wait_for_state(sneaky.id, JobState.TOMBSTONED, JobState.DONE, timeout=90)
    assert sneaky.state is JobState.TOMBSTONED
    box.wait_for_outbox()
    comments = client.list_issue_comments(box.owner, box.repo, issue)
    (report,) = [c["body"] for c in comments if c["user"]["login"] == "farcaster[bot]"]
    assert blocked in report
