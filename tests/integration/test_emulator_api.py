"""The GitHub emulator answers the project's own GitHubClient as GitHub would.

One emulator (real uvicorn, real sockets) per module; each test makes its own repository.
Exact bodies are checked with raw HTTP calls; everything else goes through
``GitHubClient.for_installation``, the only way the bot calls GitHub.
"""

import io
import os
import re
import subprocess
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from githubkit.cache import MemCacheStrategy
from pydantic import SecretStr

from bot.core.errors import GitHubError, GitHubRefused
from bot.core.settings import Settings
from bot.emulator.control import EmulatorControl
from bot.emulator.serve import EmulatorThread
from bot.github.client import GitHubClient

APP_ID = 4242
INSTALLATION = 77
OWNER = "acme"
FILES = {
    "README.md": "# widgets\n",
    "src/widgets/core.py": "def old_name():\n    return 1\n",
    "src/widgets/util.py": "from widgets.core import old_name\n",
}
HTTP = httpx.Client()  # one client: building one costs ~30 ms (its TLS context)
AUTHOR = {"name": "Farcaster", "email": "bot@farcaster.test", "date": "2024-05-01T12:00:00+02:00"}


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class Raw:
    """Plain HTTP against the emulator, to check GitHub's exact bodies and headers."""

    api: str
    private_pem: str

    def jwt(self, *, iat_offset: int = -60, exp_offset: int = 540, key: str | None = None) -> str:
        now = int(time.time())
        claims = {"iss": str(APP_ID), "iat": now + iat_offset, "exp": now + exp_offset}
        return jwt.encode(claims, key or self.private_pem, algorithm="RS256")

    def mint(self, installation: int = INSTALLATION, **jwt_args: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.jwt(**jwt_args)}"}
        return HTTP.post(
            f"{self.api}/app/installations/{installation}/access_tokens", headers=headers
        )

    def token(self) -> str:
        return str(self.mint().json()["token"])

    def call(
        self, method: str, path: str, *, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"token {token or self.token()}"}
        return HTTP.request(method, self.api + path, headers=headers, **kw)


@dataclass
class World:
    control: EmulatorControl
    client: GitHubClient
    raw: Raw
    settings: Settings


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, rsa_private_key_pem: str) -> Iterator[World]:
    with EmulatorThread(tmp_path_factory.mktemp("emulator")) as base_url:
        control = EmulatorControl(base_url)
        control.create_app(app_id=APP_ID, public_key_pem=public_pem(rsa_private_key_pem))
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        settings = Settings(
            github_api_url=control.api_url,
            github_app_id=APP_ID,
            github_private_key=rsa_private_key_pem,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        client = GitHubClient.for_installation(settings, INSTALLATION, cache=MemCacheStrategy())
        yield World(control, client, Raw(control.api_url, rsa_private_key_pem), settings)
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files=FILES)
    return name


def git(
    cwd: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    base = {"PATH": os.environ["PATH"], "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        env={**base, **(env or {})},
        check=True,
    )
    return done.stdout.decode().strip()


# -- repository, refs, git data ----------------------------------------------------------


def test_client_reads_repository_branch_commit_tree_and_blobs(world: World, repo: str) -> None:
    gh = world.client
    assert gh.get_repo(OWNER, repo)["default_branch"] == "main"
    head = gh.branch_head(OWNER, repo, "main")
    assert gh.get_ref(OWNER, repo, "main") is not None
    assert gh.get_ref(OWNER, repo, "no-such-branch") is None
    commit = gh.get_commit(OWNER, repo, head)
    tree = gh.get_tree(OWNER, repo, commit["tree"]["sha"])
    blobs = {e["path"]: e["sha"] for e in tree["tree"] if e["type"] == "blob"}
    assert set(blobs) == set(FILES)
    assert {e["path"] for e in tree["tree"] if e["type"] == "tree"} == {"src", "src/widgets"}
    for path, sha in blobs.items():
        assert gh.get_blob(OWNER, repo, sha) == FILES[path].encode()


def test_missing_ref_answers_githubs_404_body(world: World, repo: str) -> None:
    answer = world.raw.call("GET", f"/repos/{OWNER}/{repo}/git/ref/heads/nope")
    assert answer.status_code == 404
    assert answer.json()["message"] == "Not Found"
    assert "documentation_url" in answer.json()


def test_git_data_shas_equal_what_git_computes_locally(
    world: World, repo: str, tmp_path: Path
) -> None:
    gh = world.client
    base = gh.branch_head(OWNER, repo, "main")
    base_tree = gh.get_commit(OWNER, repo, base)["tree"]["sha"]
    new_core = b"def new_name():\n    return 1\n"
    blob = gh.create_blob(OWNER, repo, new_core)
    entries = [
        {"path": "src/widgets/core.py", "mode": "100644", "type": "blob", "sha": blob},
        {"path": "README.md", "mode": "100644", "type": "blob", "sha": None},
        {"path": "docs/new.md", "mode": "100644", "type": "blob", "content": "fresh\n"},
    ]
    tree = gh.create_tree(OWNER, repo, base_tree=base_tree, entries=entries)
    made = gh.create_commit(
        OWNER, repo, message="Rename", tree=tree, parents=[base], author=AUTHOR, committer=AUTHOR
    )

    # The same content, built by git in an ordinary working tree.
    work = tmp_path / "local"
    work.mkdir()
    git(work, "init", "-q")
    for path, text in FILES.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git(work, "add", "-A")
    assert git(work, "write-tree") == base_tree
    (work / "src/widgets/core.py").write_bytes(new_core)
    (work / "README.md").unlink()
    (work / "docs").mkdir()
    (work / "docs/new.md").write_text("fresh\n")
    git(work, "add", "-A")
    assert git(work, "hash-object", "src/widgets/core.py") == blob
    assert git(work, "write-tree") == tree
    # The commit object git would write for these fields (offset kept, message verbatim).
    who = "Farcaster <bot@farcaster.test> 1714557600 +0200"
    raw = f"tree {tree}\nparent {base}\nauthor {who}\ncommitter {who}\n\nRename"
    local = git(work, "hash-object", "-t", "commit", "--stdin", stdin=raw.encode())
    assert made["sha"] == local
    assert made["author"]["date"] == "2024-05-01T10:00:00Z"
    again = gh.create_commit(
        OWNER, repo, message="Rename", tree=tree, parents=[base], author=AUTHOR, committer=AUTHOR
    )
    assert again["sha"] == made["sha"]


def test_signed_commits_get_a_fresh_sha_for_the_same_inputs(world: World, repo: str) -> None:
    gh = world.client
    base = gh.branch_head(OWNER, repo, "main")
    tree = gh.get_commit(OWNER, repo, base)["tree"]["sha"]

    def commit() -> dict[str, Any]:
        return gh.create_commit(
            OWNER, repo, message="m", tree=tree, parents=[base], author=AUTHOR, committer=AUTHOR
        )

    world.control.sign_commits(True)
    try:
        first, second = commit(), commit()
    finally:
        world.control.sign_commits(False)
    assert first["sha"] != second["sha"]
    for made in (first, second):
        read = gh.get_commit(OWNER, repo, made["sha"])
        assert read["tree"]["sha"] == tree and [p["sha"] for p in read["parents"]] == [base]
        assert read["verification"]["verified"] is True and read["message"] == "m"
    assert commit()["sha"] == commit()["sha"]  # unsigned again: identical inputs, one SHA


def test_create_tree_refuses_to_delete_a_missing_path_and_both_sha_and_content(
    world: World, repo: str
) -> None:
    base_tree = world.client.get_commit(OWNER, repo, world.client.branch_head(OWNER, repo, "main"))
    path = f"/repos/{OWNER}/{repo}/git/trees"
    gone = {"path": "nope.txt", "mode": "100644", "type": "blob", "sha": None}
    answer = world.raw.call(
        "POST", path, json={"base_tree": base_tree["tree"]["sha"], "tree": [gone]}
    )
    assert (answer.status_code, answer.json()["message"]) == (422, "GitRPC::BadObjectState")
    both = {"path": "a", "mode": "100644", "type": "blob", "sha": "0" * 40, "content": "x"}
    answer = world.raw.call("POST", path, json={"tree": [both]})
    assert answer.status_code == 422
    assert answer.json()["message"].startswith("Must supply either tree.sha or tree.content")


def test_create_ref_twice_answers_422_reference_already_exists(world: World, repo: str) -> None:
    head = world.client.branch_head(OWNER, repo, "main")
    assert world.client.create_ref(OWNER, repo, "farcaster/abc", head) is True
    assert world.client.create_ref(OWNER, repo, "farcaster/abc", head) is False
    answer = world.raw.call(
        "POST",
        f"/repos/{OWNER}/{repo}/git/refs",
        json={"ref": "refs/heads/farcaster/abc", "sha": head},
    )
    assert answer.status_code == 422
    assert answer.json()["message"] == "Reference already exists"
    assert world.client.get_ref(OWNER, repo, "farcaster/abc")["object"]["sha"] == head  # type: ignore[index]


def test_racing_ref_creations_make_exactly_one_branch(world: World, repo: str) -> None:
    head = world.client.branch_head(OWNER, repo, "main")
    clients = [
        GitHubClient.for_installation(world.settings, INSTALLATION, cache=MemCacheStrategy())
        for _ in range(8)
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(
            pool.map(lambda c: c.create_ref(OWNER, repo, "farcaster/race", head), clients)
        )
    assert sorted(created) == [False] * 7 + [True]
    assert world.control.repo_state(OWNER, repo)["refs"] == 2


def test_update_ref_moves_only_forward_unless_forced(world: World, repo: str) -> None:
    control, raw = world.control, world.raw
    old = world.client.branch_head(OWNER, repo, "main")
    new = control.push(OWNER, repo, "main", {"README.md": "changed\n"})
    token = raw.token()
    ref = f"/repos/{OWNER}/{repo}/git/refs/heads/main"
    back = raw.call("PATCH", ref, token=token, json={"sha": old})
    assert (back.status_code, back.json()["message"]) == (422, "Update is not a fast forward")
    with pytest.raises(GitHubRefused, match="Update is not a fast forward"):
        world.client.update_ref(OWNER, repo, "main", old)
    forced = world.client.update_ref(OWNER, repo, "main", old, force=True)
    assert forced["object"]["sha"] == old
    assert world.client.update_ref(OWNER, repo, "main", new)["object"]["sha"] == new


def test_compare_lists_files_changed_since_the_merge_base(world: World, repo: str) -> None:
    base = world.client.branch_head(OWNER, repo, "main")
    world.control.push(
        OWNER,
        repo,
        "feature",
        {
            "src/widgets/core.py": "def new_name():\n    return 1\n",
            "README.md": None,
            "NEW.md": "n\n",
        },
    )
    world.control.push(OWNER, repo, "main", {"other.txt": "drift\n"})
    result = world.client.compare(OWNER, repo, base, "feature")
    assert result["status"] == "ahead" and result["ahead_by"] == 1
    statuses = {f["filename"]: f["status"] for f in result["files"]}
    assert statuses == {
        "src/widgets/core.py": "modified",
        "README.md": "removed",
        "NEW.md": "added",
    }
    diverged = world.client.compare(OWNER, repo, "main", "feature")
    assert (diverged["status"], diverged["ahead_by"], diverged["behind_by"]) == ("diverged", 1, 1)
    assert {f["filename"] for f in diverged["files"]} == set(statuses)


def test_tarball_redirects_to_codeload_which_serves_the_commit(world: World, repo: str) -> None:
    head = world.client.branch_head(OWNER, repo, "main")
    answer = world.raw.call("GET", f"/repos/{OWNER}/{repo}/tarball/{head}")
    assert answer.status_code == 302
    location = answer.headers["location"]
    assert "/codeload/" in location and "token=" in location
    download = HTTP.get(location)  # no Authorization: the URL's token is the credential
    assert download.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(download.content), mode="r:gz") as tar:
        files = {
            m.name: tar.extractfile(m).read().decode()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }
    prefix = f"{OWNER}-{repo}-{head[:7]}/"
    assert files == {prefix + path: text for path, text in FILES.items()}
    assert HTTP.get(location.replace("token=", "token=x")).status_code == 404
    assert world.client.download_tarball(OWNER, repo, head) == download.content


# -- pull requests, comments, reactions, checks, permissions -----------------------------


def _bot_branch(world: World, repo: str, branch: str = "farcaster/job1") -> str:
    return world.control.push(OWNER, repo, branch, {"src/widgets/core.py": "changed\n"})


def test_second_pull_request_for_a_head_is_refused_with_githubs_422(
    world: World, repo: str
) -> None:
    head_sha = _bot_branch(world, repo)
    gh = world.client
    pr = gh.create_pull(OWNER, repo, title="Rename", head="farcaster/job1", base="main", body="b")
    assert pr is not None and pr["number"] == 1
    assert pr["head"]["sha"] == head_sha and pr["state"] == "open" and pr["merged"] is False
    assert (
        gh.create_pull(OWNER, repo, title="Again", head="farcaster/job1", base="main", body="")
        is None
    )
    answer = world.raw.call(
        "POST",
        f"/repos/{OWNER}/{repo}/pulls",
        json={"title": "Again", "head": f"{OWNER}:farcaster/job1", "base": "main"},
    )
    body = answer.json()
    assert answer.status_code == 422
    assert body["message"] == "Validation Failed"
    assert body["errors"] == [
        {
            "resource": "PullRequest",
            "code": "custom",
            "message": f"A pull request already exists for {OWNER}:farcaster/job1.",
        }
    ]
    assert "documentation_url" in body


def test_pulls_are_found_by_owner_and_branch_and_a_bare_branch_filters_nothing(
    world: World, repo: str
) -> None:
    _bot_branch(world, repo, "farcaster/one")
    _bot_branch(world, repo, "farcaster/two")
    gh = world.client
    for branch in ("farcaster/one", "farcaster/two"):
        assert (
            gh.create_pull(OWNER, repo, title=branch, head=branch, base="main", body="") is not None
        )
    found = gh.find_pulls_by_head(OWNER, repo, f"{OWNER}:farcaster/one")
    assert [p["head"]["ref"] for p in found] == ["farcaster/one"]
    world.control.close_pull(OWNER, repo, found[0]["number"], user="alice")
    assert gh.find_pulls_by_head(OWNER, repo, f"{OWNER}:farcaster/one")[0]["state"] == "closed"
    bare = world.raw.call("GET", f"/repos/{OWNER}/{repo}/pulls", params={"head": "farcaster/one"})
    assert len(bare.json()) == 1  # only the open one: GitHub ignores a bare branch name
    everything = world.raw.call(
        "GET", f"/repos/{OWNER}/{repo}/pulls", params={"head": "farcaster/one", "state": "all"}
    )
    assert len(everything.json()) == 2


def test_get_pull_follows_its_branch_and_issue_numbers_are_shared(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Please rename", user="alice")
    _bot_branch(world, repo)
    pr = world.client.create_pull(
        OWNER, repo, title="T", head="farcaster/job1", base="main", body="B"
    )
    assert pr is not None and (issue["number"], pr["number"]) == (1, 2)
    moved = world.control.push(OWNER, repo, "farcaster/job1", {"extra.txt": "x\n"})
    answer = world.client.get_pull(OWNER, repo, 2)
    assert answer["head"]["sha"] == moved
    assert (answer["head"]["ref"], answer["base"]["ref"]) == ("farcaster/job1", "main")
    assert (answer["title"], answer["body"], answer["draft"], answer["merged"]) == (
        "T",
        "B",
        False,
        False,
    )
    assert answer["html_url"].endswith(f"/{OWNER}/{repo}/pull/2")
    assert world.raw.call("GET", f"/repos/{OWNER}/{repo}/pulls/1").status_code == 404


def test_comments_page_through_edit_in_place_and_react_once(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Many comments")
    number = issue["number"]
    for i in range(101):
        world.control.comment(OWNER, repo, number, f"comment {i}", user="alice", deliver=False)
    gh = world.client
    mine = gh.create_issue_comment(OWNER, repo, number, "<!-- farcaster:job=abc --> queued")
    assert mine["user"]["login"] == "farcaster[bot]" and mine["user"]["type"] == "Bot"
    edited = gh.update_issue_comment(OWNER, repo, mine["id"], "<!-- farcaster:job=abc --> done")
    assert edited["id"] == mine["id"]
    listed = gh.list_issue_comments(OWNER, repo, number)
    assert [c["body"] for c in listed][:2] == ["comment 0", "comment 1"]
    assert len(listed) == 102 and listed[-1]["body"].endswith("done")
    page = world.raw.call(
        "GET", f"/repos/{OWNER}/{repo}/issues/{number}/comments", params={"per_page": 2, "page": 3}
    )
    assert [c["body"] for c in page.json()] == ["comment 4", "comment 5"]
    assert 'rel="next"' in page.headers["link"]

    token = world.raw.token()
    path = f"/repos/{OWNER}/{repo}/issues/comments/{listed[0]['id']}/reactions"
    first = world.raw.call("POST", path, token=token, json={"content": "eyes"})
    second = world.raw.call("POST", path, token=token, json={"content": "eyes"})
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    gh.add_comment_reaction(OWNER, repo, listed[0]["id"], "eyes")
    assert world.control.repo_state(OWNER, repo)["reactions"] == {
        "total": 1,
        "by_content": {"eyes": 1},
    }


def test_check_runs_are_found_by_name_and_updated_in_place(world: World, repo: str) -> None:
    gh = world.client
    sha = _bot_branch(world, repo)
    assert gh.list_check_runs(OWNER, repo, sha, name="farcaster") == []
    run = gh.create_check_run(
        OWNER,
        repo,
        {"name": "farcaster", "head_sha": sha, "external_id": "job1", "status": "in_progress"},
    )
    gh.create_check_run(OWNER, repo, {"name": "other", "head_sha": sha})
    done = gh.update_check_run(
        OWNER,
        repo,
        run["id"],
        {"conclusion": "success", "output": {"title": "Done", "summary": "One PR."}},
    )
    assert (done["status"], done["conclusion"], done["output"]["title"]) == (
        "completed",
        "success",
        "Done",
    )
    found = gh.list_check_runs(OWNER, repo, sha, name="farcaster")
    assert [(r["id"], r["external_id"], r["status"]) for r in found] == [
        (run["id"], "job1", "completed")
    ]
    by_branch = world.raw.call(
        "GET",
        f"/repos/{OWNER}/{repo}/commits/farcaster/job1/check-runs",
        params={"check_name": "farcaster"},
    ).json()
    assert by_branch["total_count"] == 1 and by_branch["check_runs"][0]["id"] == run["id"]


def test_collaborator_permission_reports_role_and_folded_permission(
    world: World, repo: str
) -> None:
    world.control.set_permission(OWNER, repo, "mia", "maintain")
    assert world.client.collaborator_permission(OWNER, repo, "mia") == "maintain"
    assert world.client.collaborator_permission(OWNER, repo, "stranger") == "read"
    body = world.raw.call("GET", f"/repos/{OWNER}/{repo}/collaborators/mia/permission").json()
    assert (body["permission"], body["role_name"], body["user"]["login"]) == (
        "write",
        "maintain",
        "mia",
    )


# -- authentication ----------------------------------------------------------------------


def test_installation_token_expires_at_is_githubs_format(world: World) -> None:
    minted = world.raw.mint()
    assert minted.status_code == 201
    expires = minted.json()["expires_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expires)
    lifetime = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - datetime.now(
        UTC
    )
    assert 3590 <= lifetime.total_seconds() <= 3600


def test_jwt_signed_with_another_key_or_expired_is_refused(world: World) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    wrong_key = world.raw.mint(key=other_pem)
    assert (wrong_key.status_code, wrong_key.json()["message"]) == (
        401,
        "A JSON web token could not be decoded",
    )
    expired = world.raw.mint(iat_offset=-700, exp_offset=-100)
    assert (
        expired.status_code == 401
        and "'Expiration time' claim ('exp')" in expired.json()["message"]
    )
    too_long = world.raw.mint(iat_offset=0, exp_offset=3600)
    assert too_long.json()["message"] == "'Expiration time' claim ('exp') is too far in the future"
    assert world.raw.mint(installation=999).status_code == 404


def test_client_with_the_wrong_key_never_gets_a_token(world: World) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    settings = world.settings.model_copy(update={"github_private_key": SecretStr(other.decode())})
    client = GitHubClient.for_installation(settings, INSTALLATION, cache=MemCacheStrategy())
    since = world.control.journal_position()
    # githubkit wraps a failed token exchange in RequestError, which the client reports as
    # GitHubUnavailable; the emulator's side is what this test pins down.
    with pytest.raises(GitHubError):
        client.get_repo(OWNER, "anything")
    calls = [(e["method"], e["path"], e["status"]) for e in world.control.journal(since=since)]
    assert calls == [("POST", f"/api/v3/app/installations/{INSTALLATION}/access_tokens", 401)]


def test_token_is_refused_once_expired_and_unknown_tokens_are_bad_credentials(
    world: World, repo: str
) -> None:
    token = world.raw.token()
    assert world.raw.call("GET", f"/repos/{OWNER}/{repo}", token=token).status_code == 200
    world.control.set_clock(advance_seconds=3601)
    try:
        late = world.raw.call("GET", f"/repos/{OWNER}/{repo}", token=token)
    finally:
        world.control.set_clock(offset_seconds=0)
    assert late.status_code == 401
    assert late.json() == {
        "message": "Bad credentials",
        "documentation_url": "https://docs.github.com/rest",
        "status": "401",
    }
    assert world.raw.call("GET", f"/repos/{OWNER}/{repo}", token="ghs_forged").status_code == 401
    assert HTTP.get(f"{world.raw.api}/repos/{OWNER}/{repo}").status_code == 401


def test_token_sees_only_its_accounts_repositories(world: World, repo: str) -> None:
    world.control.create_repo("elsewhere", "private-stuff", files={"a": "b"})
    assert world.raw.call("GET", "/repos/elsewhere/private-stuff").status_code == 404
    installation = HTTP.get(
        f"{world.raw.api}/repos/{OWNER}/{repo}/installation",
        headers={"Authorization": f"Bearer {world.raw.jwt()}"},
    )
    assert installation.status_code == 200 and installation.json()["id"] == INSTALLATION
