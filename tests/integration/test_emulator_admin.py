"""The emulator's admin side: webhook deliveries shaped and signed like GitHub's,
redelivery, human actions, the journal and state counts, rate-limit switches, the manifest
flow, and the `farcaster emulator` process.

A tiny HTTP server plays the App's webhook endpoint and records what arrives.
"""

import hashlib
import hmac
import json
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from githubkit.cache import MemCacheStrategy

from bot.core.errors import RateLimited
from bot.core.settings import Settings
from bot.emulator.control import EmulatorControl, EmulatorError, start_emulator_process
from bot.emulator.serve import EmulatorThread
from bot.github.client import GitHubClient

SAMPLES = Path(__file__).parents[1] / "samples" / "webhooks"
APP_ID = 31
INSTALLATION = 310
OWNER = "octo-org"
SECRET = "It's a Secret to Everybody"
HTTP = httpx.Client()
# GitHub documents these as nullable; the sample carries objects, an unassigned issue null.
NULLABLE = {".issue.assignee", ".issue.milestone"}


@dataclass
class Hit:
    headers: dict[str, str]
    body: bytes


@dataclass
class Sink:
    """The App's webhook endpoint: records every delivery, answers ``status``."""

    url: str
    hits: list[Hit] = field(default_factory=list)
    status: int = 202


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    record = Sink(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            record.hits.append(Hit({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(record.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    record.url = f"http://127.0.0.1:{server.server_address[1]}/api/github/webhooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield record
    server.shutdown()
    server.server_close()


@dataclass
class World:
    control: EmulatorControl
    client: GitHubClient
    sink: Sink
    private_pem: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sink: Sink) -> Iterator[World]:
    with EmulatorThread(tmp_path_factory.mktemp("emulator")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url, webhook_secret=SECRET)
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        settings = Settings(
            github_api_url=control.api_url,
            github_app_id=APP_ID,
            github_private_key=app["private_key_pem"],
            _env_file=None,  # type: ignore[call-arg]
        )
        client = GitHubClient.for_installation(settings, INSTALLATION, cache=MemCacheStrategy())
        yield World(control, client, sink, app["private_key_pem"])
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files={"app.py": "def old():\n    return 1\n"})
    world.sink.hits.clear()
    world.sink.status = 202
    return name


def missing_keys(template: Any, actual: Any, path: str = "") -> list[str]:
    """Keys of ``template`` (recursively) that ``actual`` lacks."""
    if isinstance(template, dict):
        if actual is None and path in NULLABLE:
            return []
        if not isinstance(actual, dict):
            return [path or "."]
        found = []
        for key, value in template.items():
            if key not in actual:
                found.append(f"{path}.{key}")
            else:
                found += missing_keys(value, actual[key], f"{path}.{key}")
        return found
    if isinstance(template, list) and template and isinstance(actual, list) and actual:
        return missing_keys(template[0], actual[0], path)
    return []


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded


# -- webhook deliveries ------------------------------------------------------------------


def test_comment_delivers_a_signed_issue_comment_shaped_like_githubs(
    world: World, repo: str
) -> None:
    world.control.set_permission(OWNER, repo, "alice", "write")
    issue = world.control.create_issue(OWNER, repo, "Rename please", user="alice")
    answer = world.control.comment(
        OWNER, repo, issue["number"], "/farcaster rename old new", user="alice"
    )

    delivery = answer["delivery"]
    assert delivery["status"] == 202 and delivery["event"] == "issue_comment"
    [hit] = world.sink.hits
    assert hit.headers["x-github-event"] == "issue_comment"
    assert hit.headers["x-github-delivery"] == delivery["id"]
    assert re.fullmatch(r"[0-9a-f-]{36}", delivery["id"])
    assert hit.headers["user-agent"].startswith("GitHub-Hookshot/")
    assert hit.headers["content-type"] == "application/json"
    expected = "sha256=" + hmac.new(SECRET.encode(), hit.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(hit.headers["x-hub-signature-256"], expected)

    payload = json.loads(hit.body)
    assert missing_keys(sample("issue_comment.created.with-installation.json"), payload) == []
    assert payload["action"] == "created"
    assert payload["comment"]["body"] == "/farcaster rename old new"
    assert payload["comment"]["author_association"] == "COLLABORATOR"
    assert payload["comment"]["node_id"] and payload["comment"]["id"] == answer["comment"]["id"]
    assert payload["sender"] == payload["comment"]["user"] and payload["sender"]["type"] == "User"
    assert payload["installation"]["id"] == INSTALLATION and payload["installation"]["node_id"]
    assert payload["repository"]["full_name"] == f"{OWNER}/{repo}"
    assert payload["repository"]["default_branch"] == "main"
    assert "pull_request" not in payload["issue"]


def test_comment_on_a_pull_request_carries_issue_pull_request(world: World, repo: str) -> None:
    world.control.push(OWNER, repo, "feature", {"app.py": "def new():\n    return 1\n"})
    pr = world.control.create_pull(OWNER, repo, "feature", "A human's PR", user="bob")
    answer = world.control.comment(
        OWNER, repo, pr["number"], "/farcaster help", user="bob", author_association="CONTRIBUTOR"
    )
    payload = json.loads(world.sink.hits[-1].body)
    assert answer["delivery"]["status"] == 202
    assert payload["issue"]["number"] == pr["number"]
    assert set(payload["issue"]["pull_request"]) >= {"url", "html_url", "diff_url", "patch_url"}
    assert payload["comment"]["author_association"] == "CONTRIBUTOR"


def test_redelivery_sends_the_same_id_and_the_same_bytes(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Twice")
    world.sink.status = 500
    first = world.control.comment(OWNER, repo, issue["number"], "/farcaster status", user="alice")
    assert first["delivery"]["status"] == 500
    world.sink.status = 202
    again = world.control.redeliver(first["delivery"]["id"])
    assert (again["id"], again["status"]) == (first["delivery"]["id"], 202)
    original, repeat = world.sink.hits
    assert repeat.body == original.body
    assert repeat.headers["x-github-delivery"] == original.headers["x-github-delivery"]
    assert repeat.headers["x-hub-signature-256"] == original.headers["x-hub-signature-256"]
    [stored] = world.control.delivery(first["delivery"]["id"])
    assert [a["status"] for a in stored["attempts"]] == [500, 202]
    assert stored["attempts"][1]["redelivery"] is True


def test_unreachable_endpoint_is_reported_not_raised(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Nobody home")
    world.control.update_app(APP_ID, webhook_url="http://127.0.0.1:9/nowhere")
    try:
        answer = world.control.comment(OWNER, repo, issue["number"], "hello", user="alice")
    finally:
        world.control.update_app(APP_ID, webhook_url=world.sink.url)
    assert answer["delivery"]["status"] is None
    assert answer["delivery"]["results"][0]["error"]


def test_closing_and_merging_deliver_pull_request_closed(world: World, repo: str) -> None:
    world.control.push(OWNER, repo, "farcaster/one", {"app.py": "def new():\n    return 1\n"})
    world.control.push(OWNER, repo, "farcaster/two", {"other.py": "x = 1\n"})
    gh = world.client
    one = gh.create_pull(OWNER, repo, title="One", head="farcaster/one", base="main", body="")
    two = gh.create_pull(OWNER, repo, title="Two", head="farcaster/two", base="main", body="")
    assert one is not None and two is not None

    closed = world.control.close_pull(OWNER, repo, one["number"], user="alice")
    payload = json.loads(world.sink.hits[-1].body)
    assert closed["delivery"]["event"] == "pull_request" and closed["delivery"]["status"] == 202
    assert missing_keys(sample("pull_request.closed.json"), payload) == []
    assert (payload["action"], payload["pull_request"]["merged"]) == ("closed", False)

    world.control.close_pull(OWNER, repo, two["number"], user="alice", merge=True)
    merged = json.loads(world.sink.hits[-1].body)["pull_request"]
    assert merged["merged"] is True and merged["merged_by"]["login"] == "alice"
    main = gh.get_commit(OWNER, repo, gh.branch_head(OWNER, repo, "main"))
    assert main["sha"] == merged["merge_commit_sha"]
    assert [p["sha"] for p in main["parents"]][1] == merged["head"]["sha"]
    assert "other.py" in world.control.files(OWNER, repo)
    counts = world.control.repo_state(OWNER, repo)["pulls"]
    assert (counts["total"], counts["open"], counts["closed"], counts["merged"]) == (2, 0, 2, 1)


def test_rerequesting_a_check_run_delivers_check_run_rerequested(world: World, repo: str) -> None:
    head = world.client.branch_head(OWNER, repo, "main")
    run = world.client.create_check_run(
        OWNER, repo, {"name": "farcaster", "head_sha": head, "external_id": "job9"}
    )
    answer = world.control.rerequest_check_run(OWNER, repo, run["id"], user="alice")
    payload = json.loads(world.sink.hits[-1].body)
    assert (
        answer["delivery"]["event"] == "check_run" and answer["delivery"]["action"] == "rerequested"
    )
    assert missing_keys(sample("check_run.rerequested.json"), payload) == []
    assert (payload["check_run"]["id"], payload["check_run"]["external_id"]) == (run["id"], "job9")
    assert payload["check_run"]["app"]["id"] == APP_ID


# -- observing: journal, state, rate limits ----------------------------------------------


def test_journal_and_state_count_the_apps_effects(world: World, repo: str) -> None:
    since = world.control.journal_position()
    gh = world.client
    base = gh.branch_head(OWNER, repo, "main")
    tree = gh.create_tree(
        OWNER,
        repo,
        base_tree=gh.get_commit(OWNER, repo, base)["tree"]["sha"],
        entries=[
            {"path": "app.py", "mode": "100644", "type": "blob", "content": "def new(): ...\n"}
        ],
    )
    author = {"name": "F", "email": "f@x.test", "date": "2024-01-01T00:00:00Z"}
    commit = gh.create_commit(
        OWNER, repo, message="m", tree=tree, parents=[base], author=author, committer=author
    )
    gh.create_ref(OWNER, repo, "farcaster/job", commit["sha"])
    gh.create_ref(OWNER, repo, "farcaster/job", commit["sha"])
    pr = gh.create_pull(OWNER, repo, title="t", head="farcaster/job", base="main", body="")
    assert pr is not None
    gh.create_issue_comment(OWNER, repo, pr["number"], "status")
    world.control.comment(OWNER, repo, pr["number"], "thanks", user="alice", deliver=False)

    refs = world.control.journal(since=since, path=f"/api/v3/repos/{OWNER}/{repo}/git/refs")
    assert [(e["method"], e["status"]) for e in refs] == [("POST", 201), ("POST", 422)]
    assert "farcaster/job" in refs[0]["summary"]
    posts = world.control.journal(since=since, method="POST", contains="/pulls")
    assert [e["status"] for e in posts] == [201]

    state = world.control.repo_state(OWNER, repo)
    assert state["farcaster_branches"] == {
        "farcaster/job": {"sha": commit["sha"], "commits_not_on_default": 1}
    }
    assert state["refs"] == 2 and state["pulls"]["by_head"] == {"farcaster/job": 1}
    assert state["comments"]["total"] == 2
    assert state["comments"]["by_author"] == {"farcaster[bot]": 1, "alice": 1}
    assert list(state["comments"]["by_issue"].values()) == [{"alice": 1, "farcaster[bot]": 1}]


def test_secondary_rate_limit_makes_the_client_raise_rate_limited(world: World, repo: str) -> None:
    gh = world.client
    head = gh.branch_head(OWNER, repo, "main")
    world.control.rate_limit(1, retry_after=7)
    assert gh.get_repo(OWNER, repo)["name"] == repo  # reads are not content creation
    with pytest.raises(RateLimited) as limited:
        gh.create_ref(OWNER, repo, "farcaster/limited", head)
    assert limited.value.retry_after == 7
    assert gh.create_ref(OWNER, repo, "farcaster/limited", head) is True  # the switch is spent
    [entry] = world.control.journal(method="POST", contains=f"{repo}/git/refs", status=403)
    assert entry["path"].endswith("/git/refs")


def test_every_api_response_carries_rate_limit_headers(world: World, repo: str) -> None:
    world.control.rate_limit(1, retry_after=30, kind="primary")
    token = HTTP.post(
        f"{world.control.api_url}/app/installations/{INSTALLATION}/access_tokens",
        headers={"Authorization": "Bearer not-a-jwt"},
    )
    assert token.status_code == 401 and token.headers["x-ratelimit-limit"] == "5000"
    with pytest.raises(RateLimited) as limited:
        world.client.get_repo(OWNER, repo)
    assert 25 <= limited.value.retry_after <= 31
    response = world.client._call("GET", "/repos/{}/{}", OWNER, repo)
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(
        response.headers
    )
    assert response.headers["x-ratelimit-resource"] == "core"
    assert int(response.headers["x-ratelimit-used"]) >= 1


# -- the manifest flow and the process ---------------------------------------------------


def test_manifest_flow_creates_an_app_whose_key_mints_tokens(world: World) -> None:
    manifest = {
        "name": "Farcaster Dev",
        "url": "https://example.test/farcaster",
        "hook_attributes": {"url": world.sink.url},
        "redirect_url": "http://127.0.0.1:1/setup",
        "default_permissions": {"contents": "write", "pull_requests": "write"},
        "default_events": ["issue_comment"],
    }
    page = HTTP.get(
        f"{world.control.base_url}/settings/apps/new",
        params={"manifest": json.dumps(manifest), "state": "s1"},
    )
    assert page.status_code == 302
    query = parse_qs(urlparse(page.headers["location"]).query)
    assert query["state"] == ["s1"]
    code = query["code"][0]
    conversion = HTTP.post(f"{world.control.api_url}/app-manifests/{code}/conversions")
    assert conversion.status_code == 201
    app = conversion.json()
    assert app["slug"] == "farcaster-dev" and app["permissions"]["contents"] == "write"
    assert app["webhook_secret"] and app["client_id"] and app["client_secret"]
    assert app["pem"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert HTTP.post(f"{world.control.api_url}/app-manifests/{code}/conversions").status_code == 404

    world.control.create_installation(app["id"], "manifest-org", 999)
    world.control.create_repo("manifest-org", "r", files={"a": "b"})
    settings = Settings(
        github_api_url=world.control.api_url,
        github_app_id=app["id"],
        github_private_key=app["pem"],
        _env_file=None,  # type: ignore[call-arg]
    )
    client = GitHubClient.for_installation(settings, 999, cache=MemCacheStrategy())
    assert client.get_repo("manifest-org", "r")["full_name"] == "manifest-org/r"


def test_manifest_form_without_redirect_shows_the_code(world: World) -> None:
    manifest = {"name": "Org App", "url": "https://example.test", "hook_attributes": {"url": "x"}}
    page = HTTP.post(
        f"{world.control.base_url}/organizations/some-org/settings/apps/new",
        data={"manifest": json.dumps(manifest)},
    )
    code = re.search(r"<code id='code'>([0-9a-f]+)</code>", page.text)
    assert page.status_code == 200 and code is not None
    app = HTTP.post(f"{world.control.api_url}/app-manifests/{code[1]}/conversions").json()
    assert (app["slug"], app["owner"]["login"]) == ("org-app", "some-org")


def test_admin_errors_use_githubs_shape(world: World) -> None:
    with pytest.raises(EmulatorError) as missing:
        world.control.create_issue(OWNER, "no-such-repo", "x")
    assert missing.value.status == 404 and missing.value.body["message"] == "Not Found"


@pytest.mark.slow
def test_emulator_process_prints_its_url_and_serves(tmp_path: Path) -> None:
    proc, base_url = start_emulator_process(
        tmp_path, argv=[sys.executable, "-m", "bot.cli.commands.emulator"], token_lifetime=120
    )
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        with EmulatorControl(base_url) as control:
            app = control.create_app(app_id=5)
            control.create_installation(5, "proc-org", 55)
            made = control.create_repo("proc-org", "r", files={"a.txt": "a\n"})
            assert Path(made["git_dir"]).is_relative_to(tmp_path)
            settings = Settings(
                github_api_url=control.api_url,
                github_app_id=5,
                github_private_key=app["private_key_pem"],
                _env_file=None,  # type: ignore[call-arg]
            )
            client = GitHubClient.for_installation(settings, 55, cache=MemCacheStrategy())
            assert client.branch_head("proc-org", "r", "main") == made["head"]
            assert control.state()["tokens_issued"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=10)
