"""A small, stateful fake of the GitHub REST endpoints Farcaster's interpreter calls.

Served through respx (``fake.transport()`` plugs into ``GitHubClient.for_installation``),
one repository per fake. Objects are content-addressed like git: a blob's SHA is git's blob
SHA, a tree's SHA a hash of its sorted entries, a commit's SHA a hash of its inputs. With
``sign_commits=True`` every created commit gets a fresh SHA, as when GitHub signs a commit
made by an App: only its tree and parents say what it is.

Errors are GitHub's own bodies: 422 "Reference already exists", 422 "A pull request already
exists for OWNER:BRANCH.", 404 "Not Found", a 403 with ``retry-after`` for rate limits.
As on GitHub, a closed pull request does not stop a new one being opened for its branch,
and a bare branch name as the ``head`` filter of the pull list is ignored.

Tests read ``fake.created`` (successful creates, per kind) to check "exactly one", and
inject trouble: ``fail_next`` answers with an error instead, ``crash_after`` lets GitHub do
the write and then kills the caller before it hears the answer, ``pause`` runs a callback
(for example one that blocks a thread) before a request is served.
"""

import base64
import hashlib
import io
import itertools
import json
import re
import tarfile
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import httpx
import respx

HOST = "github.test"
BASE_URL = f"http://{HOST}/api/v3"
BOT_USER = {"login": "farcaster[bot]", "id": 9001, "type": "Bot"}
HUMAN = {"login": "octocat", "id": 1, "type": "User"}

Json = dict[str, Any]
Handler = Callable[[httpx.Request, dict[str, str]], httpx.Response]


def blob_sha(content: bytes) -> str:
    """git's blob SHA, so the fake agrees with real git on blob identities."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _digest(kind: str, value: Any) -> str:
    return hashlib.sha1(f"{kind}:{json.dumps(value, sort_keys=True)}".encode()).hexdigest()


def _answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body if body is not None else {}, headers=headers)


def _not_found() -> httpx.Response:
    return _answer(404, {"message": "Not Found", "documentation_url": "https://docs.github.com"})


def _invalid(message: str, **extra: Any) -> httpx.Response:
    return _answer(422, {"message": message, **extra})


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    times: int
    response: httpx.Response | None = None
    crash: Callable[[], BaseException] | None = None
    before: Callable[[httpx.Request], None] | None = None


class FakeGitHub:
    """One repository, its git objects, pull requests, issue comments and check runs."""

    def __init__(self, owner: str = "octo", repo: str = "demo", *, sign_commits: bool = False):
        self.owner, self.repo = owner, repo
        self.full_name = f"{owner}/{repo}"
        self.sign_commits = sign_commits
        self.truncate_trees = False
        self.drafts_supported = True
        self.default_branch = "main"
        self.lock = threading.RLock()
        self.blobs: dict[str, bytes] = {}
        self.trees: dict[str, dict[str, tuple[str, str]]] = {}  # sha -> {path: (mode, blob)}
        self.commits: dict[str, Json] = {}
        self.refs: dict[str, str] = {}  # branch -> commit sha
        self.pulls: list[Json] = []
        self.comments: dict[int, Json] = {}
        self.check_runs: dict[int, Json] = {}
        self.created: Counter[str] = Counter()
        self.calls: list[tuple[str, str, int]] = []
        self._faults: list[_Fault] = []
        self._ids = itertools.count(101)
        self._nonce = itertools.count(1)
        self._routes = self._route_table()
        self.router = respx.MockRouter(assert_all_called=False, using=None)
        self.router.route(host=HOST).mock(side_effect=self._dispatch)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.router.handler)

    # -- seeding and human actions ---------------------------------------------------------

    def seed(
        self, files: dict[str, bytes], *, branch: str = "main", modes: dict[str, str] | None = None
    ) -> str:
        """A root commit holding ``files`` on ``branch`` (mode 100644 unless ``modes`` says,
        e.g. 120000 for a symlink whose content is its target); returns its SHA."""
        modes = modes or {}
        with self.lock:
            tree = self._store_tree(
                {p: (modes.get(p, "100644"), self._store_blob(c)) for p, c in files.items()}
            )
            sha = self._store_commit(tree, [], "initial commit", HUMAN["login"])
            self.refs[branch] = sha
            return sha

    def push(
        self, branch: str, changes: dict[str, bytes | None], *, parent: str | None = None
    ) -> str:
        """A human commit on ``branch`` (None deletes a file); returns its SHA."""
        with self.lock:
            base = parent or self.refs[branch]
            files = dict(self.trees[self.commits[base]["tree"]])
            for path, content in changes.items():
                if content is None:
                    files.pop(path, None)
                else:
                    files[path] = (files.get(path, ("100644", ""))[0], self._store_blob(content))
            sha = self._store_commit(self._store_tree(files), [base], "human edit", HUMAN["login"])
            self.refs[branch] = sha
            return sha

    def close_pull(self, number: int, *, merged: bool = False) -> None:
        with self.lock:
            pull = self._pull(number)
            pull["state"] = "closed"
            pull["merged"] = merged

    def add_comment(self, issue: int, body: str, *, user: Json = HUMAN) -> int:
        with self.lock:
            return self._new_comment(issue, body, user)

    def files_at(self, ref: str) -> dict[str, bytes]:
        """Every file of a commit or branch, with its content."""
        with self.lock:
            tree = self.trees[self.commits[self._commit_of(ref)]["tree"]]
            return {path: self.blobs[sha] for path, (_mode, sha) in tree.items()}

    def pulls_for(self, branch: str) -> list[Json]:
        return [p for p in self.pulls if p["head"] == branch]

    def check_runs_named(self, external_id: str) -> list[Json]:
        return [c for c in self.check_runs.values() if c["external_id"] == external_id]

    def comments_on(self, issue: int) -> list[Json]:
        return [c for c in self.comments.values() if c["issue"] == issue]

    # -- trouble ---------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        status: int = 502,
        body: Json | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next matching request(s) with an error instead of serving it."""
        response = _answer(status, body or {"message": "Server Error"}, headers)
        self._faults.append(_Fault(method, re.compile(path), times, response=response))

    def rate_limit_next(self, method: str, path: str, *, retry_after: int = 120) -> None:
        self.fail_next(
            method,
            path,
            status=403,
            body={"message": "You have exceeded a secondary rate limit."},
            headers={"retry-after": str(retry_after)},
        )

    def crash_after(self, method: str, path: str, crash: Callable[[], BaseException]) -> None:
        """Serve the next matching request, then raise ``crash()`` instead of answering."""
        self._faults.append(_Fault(method, re.compile(path), 1, crash=crash))

    def pause(self, method: str, path: str, before: Callable[[httpx.Request], None]) -> None:
        """Call ``before(request)`` (outside the lock) when the next matching request arrives."""
        self._faults.append(_Fault(method, re.compile(path), 1, before=before))

    # -- dispatch --------------------------------------------------------------------------

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        repo = r"^/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("POST", r"^/app/installations/(?P<id>\d+)/access_tokens$", self._access_token),
            ("GET", repo + r"$", self._get_repo),
            ("GET", repo + r"/git/ref/heads/(?P<branch>.+)$", self._get_ref),
            ("POST", repo + r"/git/refs$", self._create_ref),
            ("PATCH", repo + r"/git/refs/heads/(?P<branch>.+)$", self._update_ref),
            ("GET", repo + r"/git/commits/(?P<sha>\w+)$", self._get_commit),
            ("POST", repo + r"/git/commits$", self._create_commit),
            ("GET", repo + r"/git/trees/(?P<sha>.+)$", self._get_tree),
            ("POST", repo + r"/git/trees$", self._create_tree),
            ("GET", repo + r"/git/blobs/(?P<sha>\w+)$", self._get_blob),
            ("POST", repo + r"/git/blobs$", self._create_blob),
            ("GET", repo + r"/tarball/(?P<ref>.+)$", self._tarball),
            ("GET", repo + r"/compare/(?P<base>.+)\.\.\.(?P<head>.+)$", self._compare),
            ("GET", repo + r"/pulls$", self._list_pulls),
            ("GET", repo + r"/pulls/(?P<number>\d+)$", self._get_pull),
            ("POST", repo + r"/pulls$", self._create_pull),
            ("GET", repo + r"/issues/(?P<number>\d+)/comments$", self._list_comments),
            ("POST", repo + r"/issues/(?P<number>\d+)/comments$", self._create_comment),
            ("PATCH", repo + r"/issues/comments/(?P<id>\d+)$", self._update_comment),
            ("GET", repo + r"/commits/(?P<ref>.+)/check-runs$", self._list_check_runs),
            ("POST", repo + r"/check-runs$", self._create_check_run),
            ("PATCH", repo + r"/check-runs/(?P<id>\d+)$", self._update_check_run),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, request: httpx.Request) -> httpx.Response:
        path = unquote(request.url.path).removeprefix("/api/v3")
        fault = self._take_fault(request.method, path)
        if fault is not None and fault.before is not None:
            fault.before(request)
        if fault is not None and fault.response is not None:
            self.calls.append((request.method, path, fault.response.status_code))
            return fault.response
        with self.lock:
            response = self._serve(request, path)
            self.calls.append((request.method, path, response.status_code))
        if fault is not None and fault.crash is not None:
            raise fault.crash()
        return response

    def _serve(self, request: httpx.Request, path: str) -> httpx.Response:
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if method == request.method and match:
                params = match.groupdict()
                if "repo" in params and f"{params['owner']}/{params['repo']}" != self.full_name:
                    return _not_found()
                return handler(request, params)
        return _not_found()

    def _created(self, kind: str, body: Json) -> httpx.Response:
        self.created[kind] += 1
        return _answer(201, body)

    # -- storage ---------------------------------------------------------------------------

    def _store_blob(self, content: bytes) -> str:
        sha = blob_sha(content)
        self.blobs[sha] = content
        return sha

    def _store_tree(self, files: dict[str, tuple[str, str]]) -> str:
        sha = _digest("tree", sorted(files.items()))
        self.trees[sha] = dict(files)
        return sha

    def _store_commit(self, tree: str, parents: list[str], message: str, who: str) -> str:
        person = {"name": who, "email": f"{who}@example.test", "date": "2026-01-01T00:00:00Z"}
        return self._put_commit(
            {
                "tree": tree,
                "parents": parents,
                "message": message,
                "author": person,
                "committer": person,
            }
        )

    def _put_commit(self, commit: Json) -> str:
        sha = _digest("commit", commit)
        if self.sign_commits:
            sha = _digest("signed", [sha, next(self._nonce)])
        self.commits[sha] = commit
        return sha

    def _commit_of(self, refish: str) -> str:
        refish = refish.removeprefix("refs/heads/").removeprefix("heads/")
        if refish in self.commits:
            return refish
        if refish in self.refs:
            return self.refs[refish]
        raise KeyError(refish)

    def _ancestors(self, sha: str) -> list[str]:
        seen: list[str] = []
        queue = [sha]
        while queue:
            current = queue.pop(0)
            if current not in seen:
                seen.append(current)
                queue.extend(self.commits[current]["parents"])
        return seen

    def _subtrees(self, files: dict[str, tuple[str, str]]) -> dict[str, str]:
        """Directory path -> the SHA of the tree holding what is under it."""
        dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
        result = {}
        for d in dirs:
            inner = {p[len(d) + 1 :]: v for p, v in files.items() if p.startswith(d + "/")}
            result[d] = self._store_tree(inner)
        return result

    # -- handlers: app, repository, git data ------------------------------------------------

    def _access_token(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        return _answer(201, {"token": "ghs_fake", "expires_at": "2099-01-01T00:00:00Z"})

    def _get_repo(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        return _answer(200, {"full_name": self.full_name, "default_branch": self.default_branch})

    def _ref_json(self, branch: str) -> Json:
        sha = self.refs[branch]
        return {"ref": f"refs/heads/{branch}", "object": {"sha": sha, "type": "commit"}}

    def _get_ref(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        if p["branch"] not in self.refs:
            return _not_found()
        return _answer(200, self._ref_json(p["branch"]))

    def _create_ref(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)
        branch = body["ref"].removeprefix("refs/heads/")
        if body["sha"] not in self.commits:
            return _invalid("Object does not exist")
        if branch in self.refs:
            return _invalid(
                "Reference already exists",
                documentation_url="https://docs.github.com/rest/git/refs#create-a-reference",
            )
        self.refs[branch] = body["sha"]
        return self._created("ref", self._ref_json(branch))

    def _update_ref(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)
        branch = p["branch"]
        if branch not in self.refs:
            return _invalid("Reference does not exist")
        if body["sha"] not in self.commits:
            return _invalid("Object does not exist")
        if not body.get("force") and self.refs[branch] not in self._ancestors(body["sha"]):
            return _invalid("Update is not a fast forward")
        self.refs[branch] = body["sha"]
        self.created["ref_update"] += 1
        return _answer(200, self._ref_json(branch))

    def _commit_json(self, sha: str) -> Json:
        commit = self.commits[sha]
        return {
            "sha": sha,
            "tree": {"sha": commit["tree"]},
            "parents": [{"sha": s} for s in commit["parents"]],
            "message": commit["message"],
            "author": commit["author"],
            "committer": commit["committer"],
            "verification": {"verified": self.sign_commits},
        }

    def _get_commit(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        if p["sha"] not in self.commits:
            return _not_found()
        return _answer(200, self._commit_json(p["sha"]))

    def _create_commit(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)
        if body["tree"] not in self.trees or any(s not in self.commits for s in body["parents"]):
            return _invalid("Tree SHA does not exist")
        commit = {k: body[k] for k in ("tree", "parents", "message", "author", "committer")}
        return self._created("commit", self._commit_json(self._put_commit(commit)))

    def _get_tree(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        sha = p["sha"]
        if sha not in self.trees:
            try:
                sha = self.commits[self._commit_of(sha)]["tree"]
            except KeyError:
                return _not_found()
        files = self.trees[sha]
        subtrees = self._subtrees(files)
        entries: list[Json] = []
        recursive = request.url.params.get("recursive") not in (None, "", "0", "false")
        for d, tree_sha in sorted(subtrees.items()):
            if recursive or "/" not in d:
                entries.append({"path": d, "mode": "040000", "type": "tree", "sha": tree_sha})
        for path, (mode, blob) in sorted(files.items()):
            if recursive or "/" not in path:
                entries.append(
                    {
                        "path": path,
                        "mode": mode,
                        "type": "blob",
                        "sha": blob,
                        "size": len(self.blobs[blob]),
                    }
                )
        truncated = recursive and self.truncate_trees
        if truncated:
            entries = [e for e in entries if "/" not in e["path"]][:1]
        return _answer(200, {"sha": sha, "tree": entries, "truncated": truncated})

    def _create_tree(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)
        base = body.get("base_tree")
        if base is not None and base not in self.trees:
            return _invalid("Invalid tree info", errors=["base_tree does not exist"])
        files = dict(self.trees[base]) if base else {}
        for entry in body["tree"]:
            path = entry["path"]
            if "sha" in entry and entry["sha"] is None:
                if path not in files:
                    return _invalid("GitRPC::BadObjectState", errors=[f"{path} does not exist"])
                del files[path]
            elif "content" in entry:
                files[path] = (entry["mode"], self._store_blob(entry["content"].encode()))
            elif entry.get("sha") in self.blobs:
                files[path] = (entry["mode"], entry["sha"])
            else:
                return _invalid("Invalid tree info", errors=[f"tree.sha {entry.get('sha')}"])
        sha = self._store_tree(files)
        return self._created("tree", {"sha": sha, "truncated": False})

    def _get_blob(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        if p["sha"] not in self.blobs:
            return _not_found()
        content = base64.b64encode(self.blobs[p["sha"]]).decode()
        return _answer(200, {"sha": p["sha"], "content": content, "encoding": "base64"})

    def _tarball(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        """The commit's files as GitHub's tarball (served directly, without the redirect)."""
        sha = self._commit_of(p["ref"])
        prefix = f"{self.owner}-{self.repo}-{sha[:7]}/"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path, (mode, blob) in sorted(self.trees[self.commits[sha]["tree"]].items()):
                info = tarfile.TarInfo(prefix + path)
                info.size = len(self.blobs[blob])
                info.mode = 0o755 if mode == "100755" else 0o644
                tar.addfile(info, io.BytesIO(self.blobs[blob]))
        return httpx.Response(200, content=buffer.getvalue())

    def _create_blob(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)
        raw = body["content"]
        content = base64.b64decode(raw) if body.get("encoding") == "base64" else raw.encode()
        return self._created("blob", {"sha": self._store_blob(content)})

    def _compare(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        try:
            base, head = self._commit_of(p["base"]), self._commit_of(p["head"])
        except KeyError:
            return _not_found()
        head_line, base_line = self._ancestors(head), self._ancestors(base)
        merge_base = next(s for s in head_line if s in base_line)
        if base == head:
            status = "identical"
        elif merge_base == base:
            status = "ahead"
        elif merge_base == head:
            status = "behind"
        else:
            status = "diverged"
        old = self.trees[self.commits[merge_base]["tree"]]
        new = self.trees[self.commits[head]["tree"]]
        files = []
        for path in sorted(set(old) | set(new)):
            if old.get(path) != new.get(path):
                state = "added" if path not in old else "removed" if path not in new else "modified"
                files.append({"filename": path, "status": state})
        commits = [{"sha": s} for s in reversed(head_line[: head_line.index(merge_base)])]
        return _answer(
            200,
            {
                "status": status,
                "ahead_by": len(commits),
                "behind_by": base_line.index(merge_base),
                "merge_base_commit": {"sha": merge_base},
                "commits": commits,
                "files": files,
            },
        )

    # -- handlers: pull requests, comments, check runs -----------------------------------

    def _pull(self, number: int) -> Json:
        return next(p for p in self.pulls if p["number"] == number)

    def _pull_json(self, pull: Json) -> Json:
        url = f"https://{HOST}/{self.full_name}/pull/{pull['number']}"
        return {
            "number": pull["number"],
            "html_url": url,
            "state": pull["state"],
            "merged": pull["merged"],
            "merged_at": "2026-01-02T00:00:00Z" if pull["merged"] else None,
            "title": pull["title"],
            "body": pull["body"],
            "draft": pull["draft"],
            "user": BOT_USER,
            "head": {
                "ref": pull["head"],
                "sha": self.refs.get(pull["head"]),
                "label": f"{self.owner}:{pull['head']}",
                "repo": {"full_name": self.full_name},
            },
            "base": {"ref": pull["base"], "repo": {"full_name": self.full_name}},
        }

    @staticmethod
    def _page(items: list[Any], request: httpx.Request) -> list[Any]:
        per_page = int(request.url.params.get("per_page", 30))
        page = int(request.url.params.get("page", 1))
        return items[(page - 1) * per_page : page * per_page]

    def _get_pull(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        found = [q for q in self.pulls if q["number"] == int(p["number"])]
        return _answer(200, self._pull_json(found[0])) if found else _not_found()

    def _list_pulls(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        state = request.url.params.get("state", "open")
        head = request.url.params.get("head", "")
        pulls = [x for x in self.pulls if state == "all" or x["state"] == state]
        if ":" in head:  # GitHub ignores a bare branch name here
            owner, branch = head.split(":", 1)
            pulls = [x for x in pulls if owner == self.owner and x["head"] == branch]
        return _answer(200, self._page([self._pull_json(x) for x in pulls], request))

    def _create_pull(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)
        head = body["head"].split(":", 1)[-1]
        if head not in self.refs or body["base"] not in self.refs:
            return _invalid(
                "Validation Failed",
                errors=[{"resource": "PullRequest", "field": "head", "code": "invalid"}],
            )
        if body.get("draft") and not self.drafts_supported:
            return _invalid(
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": "Draft pull requests are not supported in this repository.",
                    }
                ],
            )
        if any(x["head"] == head and x["state"] == "open" for x in self.pulls):
            return _invalid(
                "Validation Failed",
                errors=[
                    {
                        "resource": "PullRequest",
                        "code": "custom",
                        "message": f"A pull request already exists for {self.owner}:{head}.",
                    }
                ],
            )
        pull = {
            "number": next(self._ids),
            "head": head,
            "base": body["base"],
            "title": body["title"],
            "body": body.get("body") or "",
            "state": "open",
            "merged": False,
            "draft": bool(body.get("draft")),
        }
        self.pulls.append(pull)
        return self._created("pull", self._pull_json(pull))

    def _comment_json(self, comment: Json) -> Json:
        return {
            "id": comment["id"],
            "body": comment["body"],
            "user": comment["user"],
            "html_url": f"https://{HOST}/{self.full_name}/issues/{comment['issue']}"
            f"#issuecomment-{comment['id']}",
        }

    def _new_comment(self, issue: int, body: str, user: Json) -> int:
        number = next(self._ids)
        self.comments[number] = {"id": number, "issue": issue, "body": body, "user": user}
        return number

    def _list_comments(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        items = [self._comment_json(c) for c in self.comments_on(int(p["number"]))]
        return _answer(200, self._page(items, request))

    def _create_comment(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)["body"]
        number = self._new_comment(int(p["number"]), body, BOT_USER)
        return self._created("comment", self._comment_json(self.comments[number]))

    def _update_comment(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        comment = self.comments.get(int(p["id"]))
        if comment is None:
            return _not_found()
        comment["body"] = json.loads(request.content)["body"]
        self.created["comment_update"] += 1
        return _answer(200, self._comment_json(comment))

    def _list_check_runs(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        try:
            sha = self._commit_of(p["ref"])
        except KeyError:
            return _invalid(f"No commit found for SHA: {p['ref']}")
        name = request.url.params.get("check_name")
        runs = [
            c
            for c in self.check_runs.values()
            if c["head_sha"] == sha and (name is None or c["name"] == name)
        ]
        return _answer(200, {"total_count": len(runs), "check_runs": self._page(runs, request)})

    def _create_check_run(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        body = json.loads(request.content)
        if body.get("head_sha") not in self.commits:
            return _invalid(f"No commit found for SHA: {body.get('head_sha')}")
        run = {
            "id": next(self._ids),
            "name": body["name"],
            "head_sha": body["head_sha"],
            "external_id": body.get("external_id"),
            "status": body.get("status", "queued"),
            "conclusion": body.get("conclusion"),
            "output": body.get("output") or {},
            "app": {"slug": "farcaster"},
        }
        if run["conclusion"]:
            run["status"] = "completed"
        self.check_runs[run["id"]] = run
        return self._created("check_run", run)

    def _update_check_run(self, request: httpx.Request, p: dict[str, str]) -> httpx.Response:
        run = self.check_runs.get(int(p["id"]))
        if run is None:
            return _not_found()
        body = json.loads(request.content)
        run.update({k: v for k, v in body.items() if k in ("status", "conclusion", "output")})
        if run.get("conclusion"):
            run["status"] = "completed"
        self.created["check_run_update"] += 1
        return _answer(200, run)
