"""Admin routes that set the world up and act as humans (under ``/_emulator/``).

Nothing here needs authentication: the emulator listens on loopback for tests and demos.
Routes that act as a human deliver the webhook GitHub would send, synchronously, and
answer with the delivery's id and the HTTP status the App's server answered. The full
reference is in the package docstring (``bot/emulator/__init__.py``).
"""

import base64
import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body

from bot.emulator import apps, files, hooks, issues, push, render
from bot.emulator.api_git import parse_person
from bot.emulator.deps import Em, UrlsDep
from bot.emulator.errors import ApiError, not_found, unprocessable
from bot.emulator.gitrepo import ZERO_SHA, BareRepo, Person, TreeRejected
from bot.emulator.state import PERMISSIONS, Emulator, Repo

router = APIRouter(prefix="/_emulator")
JsonBody = Annotated[dict[str, Any], Body()]


def _required(body: dict[str, Any], field: str) -> Any:
    if body.get(field) in (None, ""):
        raise unprocessable(f"{field} is required")
    return body[field]


def _repo(em: Emulator, owner: str, name: str) -> Repo:
    repo = em.repo(owner, name)
    if repo is None:
        raise not_found()
    return repo


def _human(em: Emulator, login: str) -> Person:
    user = em.user(login)
    return Person(user.login, f"{user.id}+{user.login}@users.noreply.github.com", em.now())


# -- apps and installations --------------------------------------------------------------


@router.post("/apps", status_code=201)
def create_app(em: Em, urls: UrlsDep, body: JsonBody) -> dict[str, Any]:
    """Register an App from its public key (or private key, or none: one is generated)."""
    private = body.get("private_key_pem")
    public = body.get("public_key_pem")
    generated = None
    try:
        if public is None and private is None:
            generated, public = apps.generate_key_pair()
        elif public is None:
            public = apps.public_of(str(private))
        apps.check_public_key(str(public))
    except (ValueError, TypeError) as exc:
        raise unprocessable(f"unusable key: {exc}") from None
    with em.lock:
        try:
            app = apps.register_app(
                em,
                public_key_pem=str(public),
                app_id=body.get("app_id"),
                name=str(body.get("name") or "Farcaster"),
                slug=body.get("slug"),
                owner=str(body.get("owner") or apps.DEFAULT_OWNER),
                webhook_url=body.get("webhook_url"),
                webhook_secret=body.get("webhook_secret"),
                permissions=body.get("permissions"),
                events=body.get("events"),
            )
        except ValueError as exc:
            raise unprocessable(str(exc)) from None
        result = render.app(em, urls, app)
    result["webhook_url"] = app.webhook_url
    if generated is not None:
        result["private_key_pem"] = generated
    return result


@router.patch("/apps/{app_id}")
def update_app(em: Em, urls: UrlsDep, app_id: int, body: JsonBody) -> dict[str, Any]:
    """Change an App's webhook URL or secret (e.g. once the server's port is known)."""
    with em.lock:
        app = em.apps.get(app_id)
        if app is None:
            raise not_found()
        if "webhook_url" in body:
            app.webhook_url = body["webhook_url"]
        if "webhook_secret" in body:
            app.webhook_secret = body["webhook_secret"]
        return {**render.app(em, urls, app), "webhook_url": app.webhook_url}


@router.post("/installations", status_code=201)
def create_installation(em: Em, urls: UrlsDep, body: JsonBody) -> dict[str, Any]:
    """Install an App on an account. With ``deliver: true`` the App gets
    ``installation.created`` (off by default: a test world installs its App before the
    App's server is up); the answer then carries ``delivery``."""
    app_id, account = _required(body, "app_id"), _required(body, "account")
    with em.lock:
        try:
            inst = apps.install(em, int(app_id), str(account), body.get("installation_id"))
        except KeyError:
            raise not_found() from None
        except ValueError as exc:
            raise unprocessable(str(exc)) from None
        result = render.installation(em, urls, inst)
        sender = str(body.get("user") or account)
        delivery = None
        if body.get("deliver") is True:
            delivery = hooks.installation_event(em, urls, inst, "created", sender)
    if delivery is not None:
        hooks.send(em, delivery)
        result["delivery"] = hooks.summary([delivery])
    return result


@router.delete("/installations/{installation_id}")
def uninstall(
    em: Em, urls: UrlsDep, installation_id: int, user: str | None = None
) -> dict[str, Any]:
    """Uninstall: the App gets ``installation.deleted``, the installation's tokens stop
    working (401) and minting one answers 404, as on GitHub."""
    with em.lock:
        inst = em.installations.get(installation_id)
        if inst is None:
            raise not_found()
        delivery = hooks.installation_event(em, urls, inst, "deleted", user or inst.account)
        del em.installations[installation_id]
        for value in [v for v, t in em.tokens.items() if t.installation_id == installation_id]:
            del em.tokens[value]
    if delivery is not None:
        hooks.send(em, delivery)
    return {"delivery": hooks.summary([delivery] if delivery else [])}


@router.post("/app-manifests", status_code=201)
def register_manifest(em: Em, body: JsonBody) -> dict[str, Any]:
    manifest = _required(body, "manifest")
    if not isinstance(manifest, dict):
        raise unprocessable("manifest must be an object")
    with em.lock:
        try:
            return {"code": apps.register_manifest(em, manifest, body.get("owner"))}
        except ValueError as exc:
            raise unprocessable(str(exc)) from None


# -- repositories and pushes -------------------------------------------------------------


@router.post("/repos", status_code=201)
def create_repo(em: Em, urls: UrlsDep, body: JsonBody) -> dict[str, Any]:
    """A repository with one commit holding ``files`` or the contents of ``folder``."""
    owner, name = str(_required(body, "owner")), str(_required(body, "name"))
    branch = str(body.get("default_branch") or "main")
    try:
        if body.get("folder"):
            changes = files.from_folder(Path(str(body["folder"])))
        else:
            changes = files.from_json(body.get("files") or {}, allow_delete=False)
    except files.BadFiles as exc:
        raise unprocessable(str(exc)) from None
    with em.lock:
        if em.repo(owner, name) is not None:
            raise unprocessable("name already exists on this account")
        em.user(owner).type = str(body.get("owner_type") or "Organization")
        path = em.repos_dir() / owner / f"{name}.git"
        if path.exists():  # left over from an earlier emulator on the same data dir
            shutil.rmtree(path)
        git = BareRepo.init(path, branch)
        author = parse_person(body.get("author"), "author", _human(em, owner))
        tree = git.build_tree(None, changes)
        sha = git.write_commit(
            tree, [], str(body.get("message") or "Initial commit"), author, author
        )
        git.set_ref(f"refs/heads/{branch}", sha)
        repo = Repo(
            id=em.next_id(),
            owner=em.user(owner).login,
            name=name,
            default_branch=branch,
            private=bool(body.get("private", False)),
            git=git,
            created_at=em.now(),
            description=body.get("description"),
        )
        em.repos[repo.full_name.lower()] = repo
        return {"repository": render.repository(em, urls, repo), "head": sha, "git_dir": str(path)}


@router.post("/repos/{owner}/{repo}/commits", status_code=201)
def push_commit(em: Em, urls: UrlsDep, owner: str, repo: str, body: JsonBody) -> dict[str, Any]:
    """A human's push: one commit changing ``files`` on top of ``branch`` (created from
    ``from``, default the default branch, when missing; with ``force: true``, on top of
    ``from`` even when the branch exists, a force-push). ``null`` deletes a file. Delivers
    ``push``."""
    branch = str(_required(body, "branch"))
    force = bool(body.get("force", False))
    if force and not body.get("from"):
        raise unprocessable("force needs from: the commit the branch is forced onto")
    try:
        changes = files.from_json(body.get("files") or {}, allow_delete=True)
    except files.BadFiles as exc:
        raise unprocessable(str(exc)) from None
    login = str(body.get("user") or owner)
    with em.lock:
        record = _repo(em, owner, repo)
        git = record.git
        head = git.ref(f"refs/heads/{branch}")
        start = str(body.get("from") or record.default_branch)
        parent = head if head and not force else git.resolve_branch_or_sha(start)
        if parent is None:
            raise unprocessable(f"cannot find {body.get('from')}")
        base = git.read_commit(parent)
        assert base is not None
        try:
            tree = git.build_tree(base.tree, changes)
        except TreeRejected as exc:
            raise unprocessable(f"{exc}: a deleted path does not exist") from None
        who = parse_person(body.get("author"), "author", _human(em, login))
        message = str(body.get("message") or f"Update {branch}")
        sha = git.write_commit(tree, [parent], message, who, who)
        if not git.set_ref(f"refs/heads/{branch}", sha, head):
            raise ApiError(409, "the branch moved during the push")
        move = push.moved(
            em,
            record,
            ref=f"refs/heads/{branch}",
            before=head or ZERO_SHA,
            after=sha,
            pusher=login,
            via="push",
        )
    deliveries = push.deliveries(em, urls, record, move) if move else []
    for delivery in deliveries:
        hooks.send(em, delivery)
    return {
        "sha": sha,
        "tree": tree,
        "branch": branch,
        "parent": parent,
        "before": head or ZERO_SHA,
        "delivery": hooks.summary(deliveries),
    }


@router.delete("/repos/{owner}/{repo}/branches/{branch:path}")
def delete_branch(
    em: Em, urls: UrlsDep, owner: str, repo: str, branch: str, user: str | None = None
) -> dict[str, Any]:
    """A human deletes ``branch`` (``?user=``, default the owner); delivers ``push`` with
    ``deleted: true``."""
    login = user or owner
    with em.lock:
        record = _repo(em, owner, repo)
        name = f"refs/heads/{branch}"
        head = record.git.ref(name)
        if head is None or branch == record.default_branch:
            raise unprocessable(f"cannot delete {branch}")
        if not record.git.delete_ref(name, head):
            raise ApiError(409, "the branch moved during the deletion")
        move = push.moved(
            em, record, ref=name, before=head, after=ZERO_SHA, pusher=login, via="push"
        )
    deliveries = push.deliveries(em, urls, record, move) if move else []
    for delivery in deliveries:
        hooks.send(em, delivery)
    return {"branch": branch, "before": head, "delivery": hooks.summary(deliveries)}


@router.get("/repos/{owner}/{repo}/files")
def read_files(em: Em, owner: str, repo: str, ref: str | None = None) -> dict[str, Any]:
    """Every file at ``ref`` (default branch by default): text, or ``{"base64": ...}``."""
    with em.lock:
        record = _repo(em, owner, repo)
        sha = record.git.resolve_branch_or_sha(ref or record.default_branch)
        if sha is None:
            raise not_found()
        contents = record.git.files_at(sha)
    out: dict[str, Any] = {}
    for path, data in contents.items():
        try:
            out[path] = data.decode()
        except UnicodeDecodeError:
            out[path] = {"base64": base64.b64encode(data).decode()}
    return {"ref": ref or record.default_branch, "sha": sha, "files": out}


@router.put("/repos/{owner}/{repo}/collaborators/{username}")
def set_permission(em: Em, owner: str, repo: str, username: str, body: JsonBody) -> dict[str, Any]:
    role = str(_required(body, "permission"))
    if role not in PERMISSIONS:
        raise unprocessable(f"permission must be one of {', '.join(PERMISSIONS)}")
    with em.lock:
        record = _repo(em, owner, repo)
        record.permissions[em.user(username).login.lower()] = role
        return {"user": em.user(username).login, "permission": role}


# -- humans acting on issues and pull requests -------------------------------------------


@router.post("/repos/{owner}/{repo}/issues", status_code=201)
def create_issue(em: Em, urls: UrlsDep, owner: str, repo: str, body: JsonBody) -> dict[str, Any]:
    with em.lock:
        record = _repo(em, owner, repo)
        issue = issues.open_issue(
            em,
            record,
            title=str(_required(body, "title")),
            body=body.get("body"),
            user=str(body.get("user") or owner),
        )
        return render.issue(em, urls, record, issue)


@router.post("/repos/{owner}/{repo}/pulls", status_code=201)
def create_pull(em: Em, urls: UrlsDep, owner: str, repo: str, body: JsonBody) -> dict[str, Any]:
    """A human's pull request from ``head`` into ``base`` (default: the default branch);
    delivers ``pull_request.opened`` unless ``deliver`` is false. Answers the pull request,
    plus ``delivery``."""
    login = str(body.get("user") or owner)
    with em.lock:
        record = _repo(em, owner, repo)
        try:
            issue = issues.open_pull(
                em,
                record,
                head=str(_required(body, "head")),
                base=str(body.get("base") or record.default_branch),
                title=str(_required(body, "title")),
                body=body.get("body"),
                user=login,
                draft=bool(body.get("draft", False)),
            )
        except ValueError as exc:
            raise unprocessable(str(exc)) from None
        result = render.pull(em, urls, record, issue)
        payload = hooks.pull_request(em, urls, record, issue, "opened", login)
        deliveries = hooks.prepare(em, record, "pull_request", payload)
    if body.get("deliver", True) is False:
        return {**result, "delivery": None}
    for delivery in deliveries:
        hooks.send(em, delivery)
    return {**result, "delivery": hooks.summary(deliveries)}


@router.post("/repos/{owner}/{repo}/pulls/{number}/reopen")
def reopen_pull(
    em: Em, urls: UrlsDep, owner: str, repo: str, number: int, body: JsonBody
) -> dict[str, Any]:
    """Reopen a closed (not merged) pull request as ``user``: ``pull_request.reopened``."""
    login = str(body.get("user") or owner)
    with em.lock:
        record = _repo(em, owner, repo)
        issue = record.issues.get(number)
        if issue is None or issue.pull is None:
            raise not_found()
        issues.reopen_pull(em, record, issue)
        result = render.pull(em, urls, record, issue)
        payload = hooks.pull_request(em, urls, record, issue, "reopened", login)
        deliveries = hooks.prepare(em, record, "pull_request", payload)
    for delivery in deliveries:
        hooks.send(em, delivery)
    return {"pull_request": result, "delivery": hooks.summary(deliveries)}


@router.post("/repos/{owner}/{repo}/issues/{number}/comments", status_code=201)
def comment_as_user(
    em: Em, urls: UrlsDep, owner: str, repo: str, number: int, body: JsonBody
) -> dict[str, Any]:
    """Post a comment as ``user`` and deliver ``issue_comment.created`` (unless
    ``deliver`` is false)."""
    text, login = str(_required(body, "body")), str(_required(body, "user"))
    with em.lock:
        record = _repo(em, owner, repo)
        issue = record.issues.get(number)
        if issue is None:
            raise not_found()
        issues.refresh_pull(record, issue)
        comment = issues.add_comment(
            em,
            record,
            issue,
            user=em.user(login).login,
            body=text,
            association=body.get("author_association"),
        )
        result = render.comment(em, urls, record, comment)
        payload = hooks.issue_comment(em, urls, record, issue, comment, "created")
        deliveries = hooks.prepare(em, record, "issue_comment", payload)
    if body.get("deliver", True) is False:
        return {"comment": result, "delivery": None}
    for delivery in deliveries:
        hooks.send(em, delivery)
    return {"comment": result, "delivery": hooks.summary(deliveries)}


@router.post("/repos/{owner}/{repo}/pulls/{number}/close")
def close_pull(
    em: Em, urls: UrlsDep, owner: str, repo: str, number: int, body: JsonBody
) -> dict[str, Any]:
    """Close (or with ``merge: true`` merge) a pull request as ``user`` and deliver
    ``pull_request.closed``; a merge first delivers the ``push`` of the merge commit to
    the base branch, as GitHub does."""
    login = str(body.get("user") or owner)
    with em.lock:
        record = _repo(em, owner, repo)
        issue = record.issues.get(number)
        if issue is None or issue.pull is None:
            raise not_found()
        user = em.user(login).login
        issues.close_pull(em, record, issue, user=user, merge=bool(body.get("merge")))
        pr = issue.pull
        move = None
        if pr.merged and pr.merge_commit_sha:
            move = push.moved(
                em,
                record,
                ref=f"refs/heads/{pr.base_ref}",
                before=pr.base_sha,
                after=pr.merge_commit_sha,
                pusher=user,
                via="merge",
            )
        pushed = push.deliveries(em, urls, record, move) if move else []
        result = render.pull(em, urls, record, issue)
        payload = hooks.pull_request(em, urls, record, issue, "closed", login)
        deliveries = hooks.prepare(em, record, "pull_request", payload)
    for delivery in [*pushed, *deliveries]:
        hooks.send(em, delivery)
    return {
        "pull_request": result,
        "delivery": hooks.summary(deliveries),
        "push_delivery": hooks.summary(pushed) if pushed else None,
    }


@router.post("/repos/{owner}/{repo}/check-runs/{check_run_id}/rerequest")
def rerequest_check_run(
    em: Em, urls: UrlsDep, owner: str, repo: str, check_run_id: int, body: JsonBody
) -> dict[str, Any]:
    """A human clicks "Re-run": ``check_run.rerequested`` goes to the run's App only."""
    login = str(body.get("user") or owner)
    with em.lock:
        record = _repo(em, owner, repo)
        run = em.check_runs.get(check_run_id)
        if run is None or (run.owner, run.repo) != (record.owner, record.name):
            raise not_found()
        payload = hooks.check_run(em, urls, record, run, "rerequested", login)
        deliveries = hooks.prepare(em, record, "check_run", payload, only_app=run.app_id)
    for delivery in deliveries:
        hooks.send(em, delivery)
    return {"delivery": hooks.summary(deliveries)}
