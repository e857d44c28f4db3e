"""Issues, pull requests and comments: the rules shared by the API (the App) and the admin
routes (humans). Callers hold the emulator lock.

- Issues and pull requests share one number sequence per repository.
- An open pull request follows its branches: ``head.sha`` and ``base.sha`` are re-read from
  the refs each time it is shown, as on GitHub; a closed one keeps its last values.
- Merging makes a real merge commit (``git merge-tree``), parents base and head, moves the
  base branch, and refuses with 405 when the branches conflict.
"""

from bot.emulator.errors import ApiError
from bot.emulator.gitrepo import Person
from bot.emulator.render import REACTIONS
from bot.emulator.state import Comment, Emulator, Issue, Pull, Reaction, Repo


def open_issue(
    em: Emulator, repo: Repo, *, title: str, body: str | None, user: str, pull: Pull | None = None
) -> Issue:
    now = em.now()
    issue = Issue(
        id=em.next_id(),
        number=repo.next_number,
        title=title,
        body=body,
        user=em.user(user).login,
        created_at=now,
        updated_at=now,
        pull=pull,
    )
    repo.next_number += 1
    repo.issues[issue.number] = issue
    return issue


def refresh_pull(repo: Repo, issue: Issue) -> None:
    pr = issue.pull
    if pr is None or issue.state != "open":
        return
    pr.head_sha = repo.git.ref(f"refs/heads/{pr.head_ref}") or pr.head_sha
    pr.base_sha = repo.git.ref(f"refs/heads/{pr.base_ref}") or pr.base_sha


def add_comment(
    em: Emulator,
    repo: Repo,
    issue: Issue,
    *,
    user: str,
    body: str,
    app_id: int | None = None,
    association: str | None = None,
) -> Comment:
    now = em.now()
    comment = Comment(
        id=em.next_id(),
        owner=repo.owner,
        repo=repo.name,
        issue_number=issue.number,
        user=user,
        body=body,
        created_at=now,
        updated_at=now,
        author_association=association or em.author_association(repo, user),
        app_id=app_id,
    )
    comment.history.append((em.precise_now(), body))
    em.comments[comment.id] = comment
    issue.comment_ids.append(comment.id)
    issue.updated_at = now
    return comment


def edit_comment(em: Emulator, comment: Comment, body: str) -> str:
    """Replace the body, keeping the old one in the history; returns the old body."""
    before = comment.body
    comment.body, comment.updated_at = body, em.now()
    if body != before:
        comment.history.append((em.precise_now(), body))
    return before


def react(em: Emulator, comment: Comment, user: str, content: str) -> tuple[Reaction, bool]:
    """The reaction and whether it is new: one per (user, content), as GitHub keeps it."""
    if content not in REACTIONS:
        raise ValueError(content)
    for existing in comment.reactions:
        if existing.user.lower() == user.lower() and existing.content == content:
            return existing, False
    reaction = Reaction(em.next_id(), user, content, em.now())
    comment.reactions.append(reaction)
    return reaction, True


def close_pull(em: Emulator, repo: Repo, issue: Issue, *, user: str, merge: bool) -> None:
    pr = issue.pull
    if pr is None:
        raise ApiError(404, "Not Found")
    if issue.state != "open":
        raise ApiError(422, "Pull request is already closed")
    refresh_pull(repo, issue)
    now = em.now()
    if merge:
        tree = repo.git.merge_tree(pr.base_sha, pr.head_sha)
        if tree is None:
            raise ApiError(405, "Pull Request is not mergeable")
        who = Person(user, f"{em.user(user).id}+{user}@users.noreply.github.com", now)
        message = f"Merge pull request #{issue.number} from {repo.owner}/{pr.head_ref}\n\n"
        message += issue.title
        sha = repo.git.write_commit(tree, [pr.base_sha, pr.head_sha], message, who, who)
        if not repo.git.set_ref(f"refs/heads/{pr.base_ref}", sha, pr.base_sha):
            raise ApiError(409, "Base branch was modified. Review and try the merge again.")
        pr.merged, pr.merged_at, pr.merge_commit_sha, pr.merged_by = True, now, sha, user
    issue.state, issue.closed_at, issue.updated_at = "closed", now, now


def reopen_pull(em: Emulator, repo: Repo, issue: Issue) -> None:
    """Open a closed pull request again; a merged one, or one whose branches are gone,
    cannot be (422)."""
    pr = issue.pull
    if pr is None:
        raise ApiError(404, "Not Found")
    if issue.state == "open":
        raise ApiError(422, "Pull request is already open")
    if pr.merged:
        raise ApiError(422, "Pull request is merged and cannot be reopened")
    head, base = (
        repo.git.ref(f"refs/heads/{pr.head_ref}"),
        repo.git.ref(f"refs/heads/{pr.base_ref}"),
    )
    if head is None or base is None:
        raise ApiError(422, "state cannot be changed. The head or base branch was deleted.")
    issue.state, issue.closed_at, issue.updated_at = "open", None, em.now()
    refresh_pull(repo, issue)


def open_pull(
    em: Emulator,
    repo: Repo,
    *,
    head: str,
    base: str,
    title: str,
    body: str | None,
    user: str,
    draft: bool = False,
    maintainer_can_modify: bool = False,
) -> Issue:
    """A pull request of ``head`` into ``base`` (both branches of ``repo``; checked by caller)."""
    head_sha, base_sha = repo.git.ref(f"refs/heads/{head}"), repo.git.ref(f"refs/heads/{base}")
    if head_sha is None or base_sha is None:
        raise ValueError("both branches must exist")
    pull = Pull(
        head_ref=head,
        base_ref=base,
        head_sha=head_sha,
        base_sha=base_sha,
        draft=draft,
        maintainer_can_modify=maintainer_can_modify,
    )
    return open_issue(em, repo, title=title, body=body, user=user, pull=pull)
