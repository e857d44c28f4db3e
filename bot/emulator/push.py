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

Callers hold the emulator lock and call :func:`prepare` right after moving the ref, so the
commit lists describe that moment.
"""

from typing import Any

from bot.emulator import hooks, issues, render
from bot.emulator.gitrepo import ZERO_SHA, CommitInfo, Person
from bot.emulator.render import Urls
from bot.emulator.state import Delivery, Emulator, Installation, Repo

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


def _commit(
    em: Emulator, urls: Urls, repo: Repo, info: CommitInfo, distinct: bool
) -> dict[str, Any]:
    added, removed, modified = repo.git.paths_changed(info.sha)
    return {
        "id": info.sha,
        "tree_id": info.tree,
        "distinct": distinct,
        "message": info.message,
        "timestamp": info.author.date.isoformat().replace("+00:00", "Z"),
        "url": f"{urls.repo_web(repo)}/commit/{info.sha}",
        "author": _person(em, info.author),
        "committer": _person(em, info.committer),
        "added": added,
        "removed": removed,
        "modified": modified,
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


def _compare(urls: Urls, repo: Repo, ref: str, before: str, after: str, root: bool) -> str:
    web = urls.repo_web(repo)
    if before == ZERO_SHA:
        short = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        return f"{web}/commit/{after}" if root else f"{web}/compare/{short}"
    return f"{web}/compare/{before[:12]}...{after[:12]}"


def event_body(
    em: Emulator, urls: Urls, repo: Repo, *, ref: str, before: str, after: str, pusher: str
) -> dict[str, Any]:
    """Everything of the push of ``ref`` from ``before`` to ``after`` but the envelope."""
    git = repo.git
    created, deleted = before == ZERO_SHA, after == ZERO_SHA
    others = [sha for name, sha in git.refs("refs/").items() if name != ref]
    commits: list[dict[str, Any]] = []
    head: dict[str, Any] | None = None
    forced = root = False
    if not deleted:
        forced = not created and not git.is_ancestor(before, after)
        listed = git.rev_list(after, others if created else [before], MAX_COMMITS)
        # A commit is distinct when no other ref had it: the new work of this push.
        fresh = set(git.rev_list(after, others if created else [before, *others], MAX_COMMITS))
        for sha in listed:
            info = git.read_commit(sha)
            assert info is not None
            commits.append(_commit(em, urls, repo, info, sha in fresh))
        head_info = git.read_commit(after)
        assert head_info is not None
        root = not head_info.parents
        head = (
            commits[-1]
            if commits and commits[-1]["id"] == after
            else _commit(em, urls, repo, head_info, after in fresh)
        )
    login = em.user(pusher).login
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": _compare(urls, repo, ref, before, after, root),
        "commits": commits,
        "head_commit": head,
        "repository": repository(em, urls, repo),
        "pusher": {"name": login, "email": noreply_email(em, login)},
    }


def prepare(
    em: Emulator, urls: Urls, repo: Repo, *, ref: str, before: str, after: str, pusher: str
) -> list[Delivery]:
    """The deliveries for a ref that just moved, in GitHub's order: ``push`` (none for refs
    outside ``refs/heads/`` and ``refs/tags/``, or when nothing moved), then
    ``pull_request.synchronize`` for each open pull request whose head branch it is (a
    branch moved, not created or deleted). Under the lock."""
    if not delivers(ref) or before == after:
        return []
    pushed = hooks.prepare(
        em, repo, "push", _push_payload(em, urls, repo, ref, before, after, pusher)
    )
    if before == ZERO_SHA or after == ZERO_SHA or not ref.startswith("refs/heads/"):
        return pushed
    synchronized = []
    branch = ref.removeprefix("refs/heads/")
    for issue in sorted(repo.issues.values(), key=lambda i: i.number):
        pr = issue.pull
        if pr is None or issue.state != "open" or pr.head_ref != branch:
            continue
        issues.refresh_pull(repo, issue)
        payload = hooks.pull_request(
            em, urls, repo, issue, "synchronize", pusher, {"before": before, "after": after}
        )
        synchronized += hooks.prepare(em, repo, "pull_request", payload)
    return pushed + synchronized


def _push_payload(
    em: Emulator, urls: Urls, repo: Repo, ref: str, before: str, after: str, pusher: str
) -> hooks.Payload:
    built: list[dict[str, Any]] = []  # the body is computed once, and only if someone listens

    def build(installation: Installation) -> dict[str, Any]:
        if not built:
            built.append(
                event_body(em, urls, repo, ref=ref, before=before, after=after, pusher=pusher)
            )
        envelope = hooks.envelope(em, urls, repo, installation, pusher)
        envelope.pop("repository")
        return {**built[0], **envelope}

    return build
