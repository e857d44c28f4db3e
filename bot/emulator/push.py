"""The ``push`` event: built when a branch or tag moves, whoever moved it.

GitHub sends ``push`` for every ref update under ``refs/heads/`` or ``refs/tags/``: a
person's ``git push``, a merged pull request (the merge commit lands on the base), and
refs created, moved or deleted through the Git refs API, the App's own included. The
payload carries the keys of the octokit examples (tests/samples/webhooks/push.*.json):

- ``before``/``after``: 40 zeros for a created or deleted ref; ``created``, ``deleted``,
  ``forced`` (``before`` is not an ancestor of ``after``), ``base_ref`` (null: the
  emulator pushes no tags at a branch head).
- ``commits``: oldest first, at most 2048. For an update, every commit in
  ``before..after``; for a created ref, only commits no other branch had. ``distinct`` is
  false for a commit some other ref already had (a merged pull request's own commits).
  ``added``/``removed``/``modified`` compare each commit with its first parent, without
  rename detection. ``author.username`` is there when the e-mail is a user's noreply
  address.
- ``head_commit``: the ``after`` commit in the same shape (null when deleted).
- ``repository`` in the push flavour: ``created_at`` and ``pushed_at`` as epoch seconds,
  ``master_branch``, ``stargazers``, the owner with ``name`` and ``email``, and the
  organization's login in ``organization`` for an organization's repository.
- ``pusher`` ``{name, email}`` and ``sender``: whoever moved the ref (the App's bot user
  for API calls).

A branch that moves (not created or deleted) is also the head of its open pull requests:
each gets ``pull_request`` with action ``synchronize`` and ``before``/``after``, after the
push, as GitHub sends it.

Callers record the move with :func:`moved` under the lock, right after moving the ref (it
keeps the other refs of that moment), and build the deliveries with :func:`deliveries`,
which reads git without the lock (objects never change) and takes the lock only to render:
an API call that moves a ref does not pay for its push event.
"""

from dataclasses import dataclass
from typing import Any

from bot.emulator import hooks, issues, render
from bot.emulator.gitrepo import ZERO_SHA, BareRepo, CommitInfo, Person
from bot.emulator.render import Urls
from bot.emulator.state import Delivery, Emulator, Installation, RefMove, Repo

MAX_COMMITS = 2048
PUSHED_PREFIXES = ("refs/heads/", "refs/tags/")


def delivers(ref: str) -> bool:
    """Whether GitHub sends ``push`` for a change of ``ref`` (branches and tags only)."""
    return ref.startswith(PUSHED_PREFIXES)


def noreply_email(em: Emulator, login: str) -> str:
    return f"{em.user(login).id}+{em.user(login).login}@users.noreply.github.com"


def _person(em: Emulator, who: Person) -> dict[str, Any]:
    body: dict[str, Any] = {"name": who.name, "email": who.email}
    login = render.login_of_email(em, who.email)
    if login is not None:
        body["username"] = login
    return body


@dataclass(frozen=True)
class Move:
    """A ref that moved, and every other ref at that moment (to tell distinct commits)."""

    ref: str
    before: str
    after: str
    pusher: str
    others: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """One listed commit: what git says about it, read without the emulator lock."""

    info: CommitInfo
    distinct: bool
    added: list[str]
    removed: list[str]
    modified: list[str]


def moved(
    em: Emulator, repo: Repo, *, ref: str, before: str, after: str, pusher: str, via: str
) -> Move | None:
    """Record that ``ref`` just moved (under the lock, right after the move) in the
    repository's ref log, and answer the Move to deliver, or None when GitHub sends nothing
    for it. ``via``: "api" (the App), "push" (a human) or "merge"."""
    if before == after:
        return None
    login = em.user(pusher).login
    forced = ZERO_SHA not in (before, after) and not repo.git.is_ancestor(before, after)
    repo.ref_log.append(RefMove(ref, before, after, forced, login, via, em.precise_now()))
    if not delivers(ref):
        return None
    if not (hooks.listened(em, repo, "push") or hooks.listened(em, repo, "pull_request")):
        return None  # nobody would receive it: spare the git reads
    others = tuple(sha for name, sha in repo.git.refs("refs/").items() if name != ref)
    return Move(ref, before, after, login, others)


def _changes(git: BareRepo, move: Move) -> tuple[list[Change], Change | None, bool]:
    """(listed commits, head commit, forced). Objects never change, so no lock is needed."""
    before, after, others = move.before, move.after, list(move.others)
    if after == ZERO_SHA:
        return [], None, False
    created = before == ZERO_SHA
    forced = not created and not git.is_ancestor(before, after)
    listed = git.rev_list(after, others if created else [before], MAX_COMMITS)
    # A commit is distinct when no other ref had it: the new work of this push.
    fresh = set(git.rev_list(after, others if created else [before, *others], MAX_COMMITS))

    def change(sha: str) -> Change:
        info = git.read_commit(sha)
        assert info is not None
        return Change(info, sha in fresh, *git.paths_changed(sha))

    changes = [change(sha) for sha in listed]
    head = changes[-1] if changes and changes[-1].info.sha == after else change(after)
    return changes, head, forced


def _commit(em: Emulator, urls: Urls, repo: Repo, change: Change) -> dict[str, Any]:
    info = change.info
    return {
        "id": info.sha,
        "tree_id": info.tree,
        "distinct": change.distinct,
        "message": info.message,
        "timestamp": info.author.date.isoformat().replace("+00:00", "Z"),
        "url": f"{urls.repo_web(repo)}/commit/{info.sha}",
        "author": _person(em, info.author),
        "committer": _person(em, info.committer),
        "added": change.added,
        "removed": change.removed,
        "modified": change.modified,
    }


def repository(em: Emulator, urls: Urls, repo: Repo) -> dict[str, Any]:
    body = render.repository(em, urls, repo)
    owner = em.user(repo.owner)
    is_org = owner.type == "Organization"
    body["owner"] = {
        "name": owner.login,
        "email": None if is_org else noreply_email(em, owner.login),
        **body["owner"],
    }
    body["created_at"] = int(repo.created_at.timestamp())
    body["pushed_at"] = int(em.now().timestamp())
    body["stargazers"] = body["stargazers_count"]
    body["master_branch"] = repo.default_branch
    if is_org:
        body["organization"] = owner.login
    return body


def _compare(urls: Urls, repo: Repo, move: Move, *, root: bool) -> str:
    web, before, after = urls.repo_web(repo), move.before, move.after
    if before == ZERO_SHA:
        short = move.ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        return f"{web}/commit/{after}" if root else f"{web}/compare/{short}"
    return f"{web}/compare/{before[:12]}...{after[:12]}"


def deliveries(em: Emulator, urls: Urls, repo: Repo, move: Move) -> list[Delivery]:
    """The deliveries of a ref that moved, in GitHub's order: ``push``, then
    ``pull_request.synchronize`` for each open pull request whose head branch moved (not
    created or deleted). Reads git first, then takes the lock to render: call it without
    the lock from a background thread, or with it."""
    with em.lock:
        if not (hooks.listened(em, repo, "push") or hooks.listened(em, repo, "pull_request")):
            return []  # nobody would receive them: spare the git reads
    changes, head, forced = _changes(repo.git, move)
    with em.lock:
        event = {
            "ref": move.ref,
            "before": move.before,
            "after": move.after,
            "created": move.before == ZERO_SHA,
            "deleted": move.after == ZERO_SHA,
            "forced": forced,
            "base_ref": None,
            "compare": _compare(urls, repo, move, root=head is not None and not head.info.parents),
            "commits": [_commit(em, urls, repo, change) for change in changes],
            "head_commit": None if head is None else _commit(em, urls, repo, head),
            "repository": repository(em, urls, repo),
            "pusher": {"name": move.pusher, "email": noreply_email(em, move.pusher)},
        }

        def build(installation: Installation) -> dict[str, Any]:
            envelope = hooks.envelope(em, urls, repo, installation, move.pusher)
            envelope.pop("repository")
            return {**event, **envelope}

        found = hooks.prepare(em, repo, "push", build)
        if ZERO_SHA in (move.before, move.after) or not move.ref.startswith("refs/heads/"):
            return found
        branch = move.ref.removeprefix("refs/heads/")
        for issue in sorted(repo.issues.values(), key=lambda i: i.number):
            pr = issue.pull
            if pr is None or issue.state != "open" or pr.head_ref != branch:
                continue
            issues.refresh_pull(repo, issue)
            extra = {"before": move.before, "after": move.after}
            payload = hooks.pull_request(em, urls, repo, issue, "synchronize", move.pusher, extra)
            found += hooks.prepare(em, repo, "pull_request", payload)
        return found
