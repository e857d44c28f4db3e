"""Repository and Git Data routes: repo, refs, blobs, trees, commits, compare, tarball.

Objects live in a real bare repository, so SHAs are git's. GitHub's exact answers:
404 ``Not Found`` for a missing ref or object; 422 ``Reference already exists``,
``Reference does not exist``, ``Update is not a fast forward`` (PATCH without ``force``),
``Object does not exist``, ``Tree SHA does not exist``, ``Parent SHA does not exist or is
not a commit object``, ``GitRPC::BadObjectState`` (deleting a path that is not there), and
``Must supply either tree.sha or tree.content...``. A tarball answers 302 to a codeload URL
valid for five minutes and carrying an unguessable token (see ``codeload.py``).

A branch or tag created, moved or deleted here delivers ``push`` (see ``push.py``) after
the call has answered, as GitHub does for pushes made through the API; ``DELETE
git/refs/{ref}`` answers 204 with no body.
"""

import base64
import binascii
import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from bot.emulator import push, render
from bot.emulator.deps import Call, Dispatch
from bot.emulator.dispatch import Dispatcher
from bot.emulator.errors import ApiError, not_found, unprocessable
from bot.emulator.gitrepo import ZERO_SHA, Person, TreeChange, TreeRejected, is_sha
from bot.emulator.state import App, Codeload, Emulator, Repo, node_id

router = APIRouter()
JsonBody = Annotated[dict[str, Any], Body()]
REFS_DOCS = "https://docs.github.com/rest/git/refs"
MODES = {"100644": "blob", "100755": "blob", "120000": "blob", "040000": "tree", "160000": "commit"}
BOTH_OR_NEITHER = (
    "Must supply either tree.sha or tree.content. Request will be rejected if both are present."
)


def missing(field: str) -> ApiError:
    return unprocessable(f'Invalid request.\n\n"{field}" wasn\'t supplied.')


@router.get("/repos/{owner}/{repo}")
def get_repository(call: Call) -> dict[str, Any]:
    with call.em.lock:
        return render.repository(call.em, call.urls, call.repo)


# -- refs --------------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/git/ref/{ref:path}")
def get_ref(call: Call, ref: str) -> dict[str, Any]:
    with call.em.lock:
        sha = call.repo.git.ref(f"refs/{ref}")
        if sha is None:
            raise not_found(f"{REFS_DOCS}#get-a-reference")
        return render.git_ref(call.urls, call.repo, f"refs/{ref}", sha)


def _pushed(call: Call, dispatch: Dispatcher, name: str, before: str, after: str) -> None:
    """Queue the ``push`` GitHub sends for a ref moved through the API (under the lock,
    right after the move); it is built and sent after the call answers (``dispatch.py``)."""
    em, urls, repo = call.em, call.urls, call.repo
    pusher = em.user(call.app.bot_login, "Bot").login
    move = push.moved(em, repo, ref=name, before=before, after=after, pusher=pusher, via="api")
    if move is not None:
        dispatch.defer(lambda: push.deliveries(em, urls, repo, move))


@router.post("/repos/{owner}/{repo}/git/refs", status_code=201)
def create_ref(
    call: Call, dispatch: Dispatch, body: JsonBody, response: Response
) -> dict[str, Any]:
    name, sha = body.get("ref"), body.get("sha")
    if not isinstance(name, str):
        raise missing("ref")
    if not isinstance(sha, str):
        raise missing("sha")
    git = call.repo.git
    with call.em.lock:
        if name.count("/") < 2 or not git.valid_ref_name(name):
            raise unprocessable(
                f"{name} is not a valid ref name.", f"{REFS_DOCS}#create-a-reference"
            )
        if git.object_type(sha) is None:
            raise unprocessable("Object does not exist", f"{REFS_DOCS}#create-a-reference")
        if not git.create_ref(name, sha):
            raise unprocessable("Reference already exists", f"{REFS_DOCS}#create-a-reference")
        result = render.git_ref(call.urls, call.repo, name, sha)
        if git.object_type(sha) == "commit":  # a ref to a tree or blob pushes nothing
            _pushed(call, dispatch, name, ZERO_SHA, sha)
    response.headers["location"] = result["url"]
    return result


@router.patch("/repos/{owner}/{repo}/git/refs/{ref:path}")
def update_ref(call: Call, dispatch: Dispatch, ref: str, body: JsonBody) -> dict[str, Any]:
    sha, force = body.get("sha"), bool(body.get("force", False))
    if not isinstance(sha, str):
        raise missing("sha")
    name, git, docs = f"refs/{ref}", call.repo.git, f"{REFS_DOCS}#update-a-reference"
    with call.em.lock:
        old = git.ref(name)
        if old is None:
            raise unprocessable("Reference does not exist", docs)
        if git.object_type(sha) != "commit":
            raise unprocessable("Object does not exist", docs)
        if not force and not git.is_ancestor(old, sha):
            raise unprocessable("Update is not a fast forward", docs)
        if not git.set_ref(name, sha, old):
            raise unprocessable("Reference cannot be updated", docs)
        _pushed(call, dispatch, name, old, sha)
        return render.git_ref(call.urls, call.repo, name, sha)


@router.delete("/repos/{owner}/{repo}/git/refs/{ref:path}", status_code=204)
def delete_ref(call: Call, dispatch: Dispatch, ref: str) -> Response:
    name, git = f"refs/{ref}", call.repo.git
    docs = f"{REFS_DOCS}#delete-a-reference"
    with call.em.lock:
        old = git.ref(name)
        if old is None:
            raise unprocessable("Reference does not exist", docs)
        if not git.delete_ref(name, old):
            raise unprocessable("Reference cannot be deleted", docs)
        if git.object_type(old) == "commit":
            _pushed(call, dispatch, name, old, ZERO_SHA)
    return Response(status_code=204)


# -- blobs -------------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/git/blobs/{sha}")
def get_blob(call: Call, sha: str) -> dict[str, Any]:
    with call.em.lock:
        data = call.repo.git.read_blob(sha)
    if data is None:
        raise not_found()
    encoded = base64.b64encode(data).decode()
    # GitHub wraps base64 content at 60 characters per line.
    lines = "".join(encoded[i : i + 60] + "\n" for i in range(0, len(encoded), 60))
    return {
        "sha": sha,
        "node_id": node_id("Blob", int(sha[:12], 16)),
        "size": len(data),
        "url": f"{call.urls.repo_api(call.repo)}/git/blobs/{sha}",
        "content": lines,
        "encoding": "base64",
    }


def _decode(content: Any, encoding: Any) -> bytes:
    if not isinstance(content, str):
        raise missing("content")
    if encoding in (None, "utf-8", "utf8"):
        return content.encode()
    if encoding == "base64":
        try:
            return base64.b64decode(content, validate=False)
        except (binascii.Error, ValueError):
            raise unprocessable("Invalid request.\n\ncontent is not valid Base64.") from None
    raise unprocessable(f"Invalid request.\n\nencoding {encoding!r} is not supported.")


@router.post("/repos/{owner}/{repo}/git/blobs", status_code=201)
def create_blob(call: Call, body: JsonBody) -> dict[str, Any]:
    data = _decode(body.get("content"), body.get("encoding"))
    with call.em.lock:
        sha = call.repo.git.write_blob(data)
    return {"sha": sha, "url": f"{call.urls.repo_api(call.repo)}/git/blobs/{sha}"}


# -- trees -------------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/git/trees/{sha:path}")
def get_tree(call: Call, sha: str, recursive: str | None = None) -> dict[str, Any]:
    git = call.repo.git
    with call.em.lock:
        tree = git.resolve(sha, "tree")
        if tree is None:
            raise not_found()
        # GitHub recurses for any value of `recursive`, even "0" or "false".
        entries = git.list_tree(tree, recursive=recursive is not None)
        return render.git_tree(call.urls, call.repo, tree, entries)


def _tree_change(raw: Any, repo: Repo) -> TreeChange:
    if not isinstance(raw, dict):
        raise unprocessable("Invalid request.\n\ntree entries must be objects.")
    path, mode, kind = raw.get("path"), raw.get("mode"), raw.get("type")
    if not isinstance(path, str) or not _clean_path(path):
        raise unprocessable("tree.path contains a malformed path component")
    if mode not in MODES:
        raise unprocessable(f"Invalid request.\n\n{mode!r} is not a valid tree.mode.")
    if kind not in ("blob", "tree", "commit") or MODES[mode] != kind:
        raise unprocessable(f"Invalid request.\n\n{kind!r} is not a valid tree.type for {mode}.")
    has_sha, content = "sha" in raw, raw.get("content")
    if has_sha == (content is not None):
        raise unprocessable(BOTH_OR_NEITHER)
    sha = raw.get("sha")
    if has_sha and sha is not None:
        if not isinstance(sha, str) or (kind != "commit" and repo.git.object_type(sha) != kind):
            raise unprocessable(f"tree.sha {sha} is not a valid {kind}")
        if kind == "commit" and not is_sha(sha):
            raise unprocessable(f"tree.sha {sha} is not a valid commit")
    if content is not None:
        if kind != "blob" or not isinstance(content, str):
            raise unprocessable("Invalid request.\n\ntree.content applies to blobs only.")
        return TreeChange(path, mode, kind, content=content.encode())
    return TreeChange(path, mode, kind, sha=sha)


def _clean_path(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and all(p not in ("", ".", "..") for p in parts) and ".git" not in parts


@router.post("/repos/{owner}/{repo}/git/trees", status_code=201)
def create_tree(call: Call, body: JsonBody) -> dict[str, Any]:
    entries = body.get("tree")
    if not isinstance(entries, list):
        raise missing("tree")
    git = call.repo.git
    with call.em.lock:
        base = body.get("base_tree")
        base_tree = None
        if base is not None:
            base_tree = git.resolve(str(base), "tree") if isinstance(base, str) else None
            if base_tree is None:
                raise unprocessable(f"base_tree {base} is not a valid tree")
        changes = [_tree_change(raw, call.repo) for raw in entries]
        try:
            sha = git.build_tree(base_tree, changes)
        except TreeRejected as exc:
            raise unprocessable(str(exc), "https://docs.github.com/rest/git/trees") from None
        return render.git_tree(call.urls, call.repo, sha, git.list_tree(sha, recursive=False))


# -- commits -----------------------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/git/commits/{sha}")
def get_commit(call: Call, sha: str) -> dict[str, Any]:
    with call.em.lock:
        info = call.repo.git.read_commit(sha)
        if info is None:
            raise not_found()
        return render.git_commit(call.urls, call.repo, info)


def parse_person(raw: Any, field: str, default: Person) -> Person:
    """``{name, email, date?}`` as GitHub reads it; a missing date is now."""
    if raw is None:
        return default
    if not isinstance(raw, dict) or not raw.get("name") or not raw.get("email"):
        raise unprocessable(f"Invalid request.\n\n{field} needs a name and an email.")
    date = default.date
    if raw.get("date") is not None:
        try:
            date = datetime.fromisoformat(str(raw["date"]))
        except ValueError:
            raise unprocessable(f"Invalid request.\n\n{field}.date is not a date.") from None
        if date.tzinfo is None:
            raise unprocessable(f"Invalid request.\n\n{field}.date needs a time zone.")
    return Person(str(raw["name"]), str(raw["email"]), date)


def bot_person(em: Emulator, app: App) -> Person:
    bot = em.user(app.bot_login, "Bot")
    return Person(app.bot_login, f"{bot.id}+{app.bot_login}@users.noreply.github.com", em.now())


@router.post("/repos/{owner}/{repo}/git/commits", status_code=201)
def create_commit(call: Call, body: JsonBody) -> dict[str, Any]:
    message, tree, parents = body.get("message"), body.get("tree"), body.get("parents", [])
    if not isinstance(message, str):
        raise missing("message")
    if not isinstance(tree, str):
        raise missing("tree")
    if not isinstance(parents, list):
        raise unprocessable("Invalid request.\n\nparents must be a list of SHAs.")
    git, em = call.repo.git, call.em
    with em.lock:
        if git.object_type(tree) != "tree":
            raise unprocessable("Tree SHA does not exist")
        for parent in parents:
            if not isinstance(parent, str) or git.object_type(parent) != "commit":
                raise unprocessable("Parent SHA does not exist or is not a commit object")
        author = parse_person(body.get("author"), "author", bot_person(em, call.app))
        committer = parse_person(body.get("committer"), "committer", author)
        if em.sign_commits:
            signature = base64.b64encode(secrets.token_bytes(48)).decode()
            sha = git.write_signed_commit(tree, parents, message, author, committer, signature)
        else:
            sha = git.write_commit(tree, parents, message, author, committer)
        info = git.read_commit(sha)
        assert info is not None
        return render.git_commit(call.urls, call.repo, info)


# -- compare and tarball -----------------------------------------------------------------


@router.get("/repos/{owner}/{repo}/compare/{basehead:path}")
def compare(call: Call, basehead: str) -> dict[str, Any]:
    base_name, sep, head_name = basehead.partition("...")
    if not sep:
        raise not_found()
    git, urls, repo = call.repo.git, call.urls, call.repo
    with call.em.lock:
        base, head = git.resolve_branch_or_sha(base_name), git.resolve_branch_or_sha(head_name)
        if base is None or head is None:
            raise not_found()
        merge_base = git.merge_base(base, head)
        if merge_base is None:
            raise not_found()
        ahead, behind = git.count(head, base), git.count(base, head)
        status = (
            "identical"
            if ahead == behind == 0
            else "ahead"
            if behind == 0
            else "behind"
            if ahead == 0
            else "diverged"
        )
        commits = []
        for sha in git.commits_between(base, head):
            info = git.read_commit(sha)
            assert info is not None
            commits.append({"sha": sha, "commit": render.git_commit(urls, repo, info)})
        files = [render.changed_file(urls, repo, head, c) for c in git.diff_files(merge_base, head)]
        base_info, mb_info = git.read_commit(base), git.read_commit(merge_base)
        assert base_info is not None and mb_info is not None
        return {
            "url": f"{urls.repo_api(repo)}/compare/{basehead}",
            "html_url": f"{urls.repo_web(repo)}/compare/{basehead}",
            "base_commit": {"sha": base, "commit": render.git_commit(urls, repo, base_info)},
            "merge_base_commit": {
                "sha": merge_base,
                "commit": render.git_commit(urls, repo, mb_info),
            },
            "status": status,
            "ahead_by": ahead,
            "behind_by": behind,
            "total_commits": ahead,
            "commits": commits,
            "files": files,
        }


@router.get("/repos/{owner}/{repo}/tarball", status_code=302)
@router.get("/repos/{owner}/{repo}/tarball/{ref:path}", status_code=302)
def tarball(call: Call, ref: str | None = None) -> Response:
    em, repo = call.em, call.repo
    with em.lock:
        sha = repo.git.resolve_branch_or_sha(ref or repo.default_branch)
        if sha is None:
            raise not_found()
        link = Codeload(
            token=secrets.token_urlsafe(24),
            owner=repo.owner,
            repo=repo.name,
            sha=sha,
            expires_at=em.now() + timedelta(seconds=em.config.codeload_lifetime_seconds),
        )
        em.codeloads[link.token] = link
    location = (
        f"{call.urls.web}/codeload/{repo.owner}/{repo.name}/legacy.tar.gz/{sha}?token={link.token}"
    )
    return Response(status_code=302, headers={"location": location})
