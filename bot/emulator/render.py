"""GitHub's JSON shapes, built from the emulator's records.

Each function returns the object as GitHub's REST API (and webhook payloads) spell it,
with every key of the recorded octokit examples, so that strict consumers and our lenient
ones both read what they would read from GitHub. Callers hold the emulator lock.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from bot.emulator.gitrepo import CommitInfo, FileChange, Person, TreeEntry, utc
from bot.emulator.state import (
    App,
    CheckRun,
    Comment,
    Emulator,
    Installation,
    Issue,
    Label,
    Reaction,
    Repo,
    node_id,
)

API_PREFIX = "/api/v3"
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")


@dataclass(frozen=True)
class Urls:
    """Where the emulator is reached: ``web`` for html_url, ``api`` for url fields."""

    web: str

    @classmethod
    def of(cls, request: Request) -> "Urls":
        return cls(str(request.base_url).rstrip("/"))

    @property
    def api(self) -> str:
        return self.web + API_PREFIX

    def repo_api(self, repo: Repo) -> str:
        return f"{self.api}/repos/{repo.owner}/{repo.name}"

    def repo_web(self, repo: Repo) -> str:
        return f"{self.web}/{repo.owner}/{repo.name}"


def when(date: datetime | None) -> str | None:
    return None if date is None else utc(date)


def user(em: Emulator, urls: Urls, login: str) -> dict[str, Any]:
    record = em.user(login)
    api = f"{urls.api}/users/{quote(record.login)}"
    return {
        "login": record.login,
        "id": record.id,
        "node_id": node_id(record.type, record.id),
        "avatar_url": f"{urls.web}/avatars/u/{record.id}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{urls.web}/{quote(record.login)}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": record.type,
        "user_view_type": "public",
        "site_admin": False,
    }


def organization(em: Emulator, urls: Urls, login: str) -> dict[str, Any]:
    record = em.user(login, "Organization")
    api = f"{urls.api}/orgs/{record.login}"
    return {
        "login": record.login,
        "id": record.id,
        "node_id": node_id("Organization", record.id),
        "url": api,
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events",
        "hooks_url": f"{api}/hooks",
        "issues_url": f"{api}/issues",
        "members_url": f"{api}/members{{/member}}",
        "public_members_url": f"{api}/public_members{{/member}}",
        "avatar_url": f"{urls.web}/avatars/u/{record.id}?v=4",
        "description": "",
    }


_REPO_LINKS = {
    "forks_url": "/forks",
    "keys_url": "/keys{/key_id}",
    "collaborators_url": "/collaborators{/collaborator}",
    "teams_url": "/teams",
    "hooks_url": "/hooks",
    "issue_events_url": "/issues/events{/number}",
    "events_url": "/events",
    "assignees_url": "/assignees{/user}",
    "branches_url": "/branches{/branch}",
    "tags_url": "/tags",
    "blobs_url": "/git/blobs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "trees_url": "/git/trees{/sha}",
    "statuses_url": "/statuses/{sha}",
    "languages_url": "/languages",
    "stargazers_url": "/stargazers",
    "contributors_url": "/contributors",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "commits_url": "/commits{/sha}",
    "git_commits_url": "/git/commits{/sha}",
    "comments_url": "/comments{/number}",
    "issue_comment_url": "/issues/comments{/number}",
    "contents_url": "/contents/{+path}",
    "compare_url": "/compare/{base}...{head}",
    "merges_url": "/merges",
    "archive_url": "/{archive_format}{/ref}",
    "downloads_url": "/downloads",
    "issues_url": "/issues{/number}",
    "pulls_url": "/pulls{/number}",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "labels_url": "/labels{/name}",
    "releases_url": "/releases{/id}",
    "deployments_url": "/deployments",
}


def repository(em: Emulator, urls: Urls, repo: Repo) -> dict[str, Any]:
    api, web = urls.repo_api(repo), urls.repo_web(repo)
    open_issues = sum(1 for i in repo.issues.values() if i.state == "open")
    host = urls.web.split("://", 1)[-1]
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user(em, urls, repo.owner),
        "html_url": web,
        "description": repo.description,
        "fork": False,
        "url": api,
    }
    body.update({key: api + suffix for key, suffix in _REPO_LINKS.items()})
    body.update(
        {
            "created_at": when(repo.created_at),
            "updated_at": when(repo.created_at),
            "pushed_at": when(repo.created_at),
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "clone_url": f"{web}.git",
            "svn_url": web,
            "homepage": None,
            "size": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "language": None,
            "has_issues": True,
            "has_projects": True,
            "has_downloads": True,
            "has_wiki": True,
            "has_pages": False,
            "forks_count": 0,
            "mirror_url": None,
            "archived": False,
            "disabled": False,
            "open_issues_count": open_issues,
            "license": None,
            "forks": 0,
            "open_issues": open_issues,
            "watchers": 0,
            "default_branch": repo.default_branch,
            "is_template": False,
            "topics": [],
            "visibility": "private" if repo.private else "public",
            "web_commit_signoff_required": False,
            "custom_properties": {},
        }
    )
    return body


def app(em: Emulator, urls: Urls, record: App) -> dict[str, Any]:
    return {
        "id": record.id,
        "slug": record.slug,
        "node_id": node_id("Integration", record.id),
        "client_id": record.client_id,
        "owner": user(em, urls, record.owner),
        "name": record.name,
        "description": record.description,
        "external_url": record.external_url or f"{urls.web}/apps/{record.slug}",
        "html_url": f"{urls.web}/apps/{record.slug}",
        "created_at": when(record.created_at),
        "updated_at": when(record.created_at),
        "permissions": dict(record.permissions),
        "events": list(record.events),
    }


def installation(em: Emulator, urls: Urls, inst: Installation) -> dict[str, Any]:
    record = em.apps[inst.app_id]
    return {
        "id": inst.id,
        "node_id": node_id("IntegrationInstallation", inst.id),
        "account": user(em, urls, inst.account),
        "repository_selection": "all",
        "access_tokens_url": f"{urls.api}/app/installations/{inst.id}/access_tokens",
        "repositories_url": f"{urls.api}/installation/repositories",
        "html_url": f"{urls.web}/settings/installations/{inst.id}",
        "app_id": record.id,
        "app_slug": record.slug,
        "target_id": em.user(inst.account).id,
        "target_type": em.user(inst.account).type,
        "permissions": dict(record.permissions),
        "events": list(record.events),
        "created_at": when(inst.created_at),
        "updated_at": when(inst.created_at),
        "single_file_name": None,
        "suspended_at": None,
        "suspended_by": None,
    }


def reactions_summary(url: str, reactions: list[Reaction]) -> dict[str, Any]:
    summary: dict[str, Any] = {"url": url, "total_count": len(reactions)}
    for content in REACTIONS:
        summary[content] = sum(1 for r in reactions if r.content == content)
    return summary


def reaction(em: Emulator, urls: Urls, record: Reaction) -> dict[str, Any]:
    return {
        "id": record.id,
        "node_id": node_id("Reaction", record.id),
        "user": user(em, urls, record.user),
        "content": record.content,
        "created_at": when(record.created_at),
    }


def comment(em: Emulator, urls: Urls, repo: Repo, record: Comment) -> dict[str, Any]:
    api = f"{urls.repo_api(repo)}/issues/comments/{record.id}"
    kind = "pull" if repo.issues[record.issue_number].pull else "issues"
    return {
        "url": api,
        "html_url": f"{urls.repo_web(repo)}/{kind}/{record.issue_number}#issuecomment-{record.id}",
        "issue_url": f"{urls.repo_api(repo)}/issues/{record.issue_number}",
        "id": record.id,
        "node_id": node_id("IssueComment", record.id),
        "user": user(em, urls, record.user),
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
        "author_association": record.author_association,
        "body": record.body,
        "reactions": reactions_summary(f"{api}/reactions", record.reactions),
        "performed_via_github_app": (
            app(em, urls, em.apps[record.app_id]) if record.app_id in em.apps else None
        ),
    }


def label(urls: Urls, repo: Repo, record: Label) -> dict[str, Any]:
    return {
        "id": record.id,
        "node_id": node_id("Label", record.id),
        "url": f"{urls.repo_api(repo)}/labels/{quote(record.name)}",
        "name": record.name,
        "color": record.color,
        "default": False,
        "description": None,
    }


def labels(urls: Urls, repo: Repo, record: Issue) -> list[dict[str, Any]]:
    return [label(urls, repo, repo.labels[name.lower()]) for name in record.labels]


def team(em: Emulator, urls: Urls, org: str, slug: str) -> dict[str, Any]:
    team_id = em.team_id(org, slug)
    api = f"{urls.api}/organizations/{em.user(org).id}/team/{team_id}"
    return {
        "id": team_id,
        "node_id": node_id("Team", team_id),
        "url": api,
        "html_url": f"{urls.web}/orgs/{org}/teams/{slug}",
        "name": slug,
        "slug": slug,
        "description": None,
        "privacy": "closed",
        "notification_setting": "notifications_enabled",
        "permission": "pull",
        "members_url": f"{api}/members{{/member}}",
        "repositories_url": f"{api}/repos",
        "parent": None,
    }


def issue(em: Emulator, urls: Urls, repo: Repo, record: Issue) -> dict[str, Any]:
    api = f"{urls.repo_api(repo)}/issues/{record.number}"
    kind = "pull" if record.pull else "issues"
    body: dict[str, Any] = {
        "url": api,
        "repository_url": urls.repo_api(repo),
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{urls.repo_web(repo)}/{kind}/{record.number}",
        "id": record.id,
        "node_id": node_id("PullRequest" if record.pull else "Issue", record.id),
        "number": record.number,
        "title": record.title,
        "user": user(em, urls, record.user),
        "labels": labels(urls, repo, record),
        "state": record.state,
        "locked": False,
        "assignee": None,
        "assignees": [],
        "milestone": None,
        "comments": len(record.comment_ids),
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
        "closed_at": when(record.closed_at),
        "author_association": em.author_association(repo, record.user),
        "active_lock_reason": None,
        "body": record.body,
        "reactions": reactions_summary(f"{api}/reactions", []),
        "draft": bool(record.pull and record.pull.draft),
        "timeline_url": f"{api}/timeline",
        "performed_via_github_app": None,
        "state_reason": None,
    }
    if record.pull is not None:
        pulls = f"{urls.repo_api(repo)}/pulls/{record.number}"
        web = f"{urls.repo_web(repo)}/pull/{record.number}"
        body["pull_request"] = {
            "url": pulls,
            "html_url": web,
            "diff_url": f"{web}.diff",
            "patch_url": f"{web}.patch",
            "merged_at": when(record.pull.merged_at),
        }
    return body


def _branch(em: Emulator, urls: Urls, repo: Repo, ref: str, sha: str) -> dict[str, Any]:
    return {
        "label": f"{repo.owner}:{ref}",
        "ref": ref,
        "sha": sha,
        "user": user(em, urls, repo.owner),
        "repo": repository(em, urls, repo),
    }


def pull(em: Emulator, urls: Urls, repo: Repo, record: Issue) -> dict[str, Any]:
    assert record.pull is not None
    pr = record.pull
    api = f"{urls.repo_api(repo)}/pulls/{record.number}"
    issue_api = f"{urls.repo_api(repo)}/issues/{record.number}"
    web = f"{urls.repo_web(repo)}/pull/{record.number}"
    statuses = f"{urls.repo_api(repo)}/statuses/{pr.head_sha}"
    return {
        "url": api,
        "id": record.id,
        "node_id": node_id("PullRequest", record.id),
        "html_url": web,
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "issue_url": issue_api,
        "number": record.number,
        "state": record.state,
        "locked": False,
        "title": record.title,
        "user": user(em, urls, record.user),
        "body": record.body,
        "created_at": when(record.created_at),
        "updated_at": when(record.updated_at),
        "closed_at": when(record.closed_at),
        "merged_at": when(pr.merged_at),
        "merge_commit_sha": pr.merge_commit_sha,
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [user(em, urls, login) for login in pr.requested_reviewers],
        "requested_teams": [team(em, urls, repo.owner, slug) for slug in pr.requested_teams],
        "labels": labels(urls, repo, record),
        "milestone": None,
        "commits_url": f"{api}/commits",
        "review_comments_url": f"{api}/comments",
        "review_comment_url": f"{urls.repo_api(repo)}/pulls/comments{{/number}}",
        "comments_url": f"{issue_api}/comments",
        "statuses_url": statuses,
        "head": _branch(em, urls, repo, pr.head_ref, pr.head_sha),
        "base": _branch(em, urls, repo, pr.base_ref, pr.base_sha),
        "_links": {
            "self": {"href": api},
            "html": {"href": web},
            "issue": {"href": issue_api},
            "comments": {"href": f"{issue_api}/comments"},
            "review_comments": {"href": f"{api}/comments"},
            "review_comment": {"href": f"{urls.repo_api(repo)}/pulls/comments{{/number}}"},
            "commits": {"href": f"{api}/commits"},
            "statuses": {"href": statuses},
        },
        "author_association": em.author_association(repo, record.user),
        "auto_merge": None,
        "active_lock_reason": None,
        "draft": pr.draft,
        "merged": pr.merged,
        "mergeable": None if pr.merged else True,
        "rebaseable": None if pr.merged else True,
        "mergeable_state": "clean" if record.state == "open" else "unknown",
        "merged_by": user(em, urls, pr.merged_by) if pr.merged_by else None,
        "comments": len(record.comment_ids),
        "review_comments": len(pr.review_comment_ids),
        "maintainer_can_modify": pr.maintainer_can_modify,
        "commits": repo.git.count(pr.head_sha, pr.base_sha) if not pr.merged else 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0,
    }


def check_run(
    em: Emulator, urls: Urls, repo: Repo, run: CheckRun, *, full_suite: bool = False
) -> dict[str, Any]:
    api = f"{urls.repo_api(repo)}/check-runs/{run.id}"
    app_json = app(em, urls, em.apps[run.app_id])
    prs = [
        _pull_ref(urls, repo, i)
        for i in sorted(repo.issues.values(), key=lambda i: i.number)
        if i.pull and i.state == "open" and i.pull.head_sha == run.head_sha
    ]
    suite: dict[str, Any] = {"id": run.check_suite_id}
    if full_suite:
        suite.update(
            {
                "head_branch": next((p["head"]["ref"] for p in prs), None),
                "head_sha": run.head_sha,
                "status": run.status,
                "conclusion": run.conclusion,
                "url": f"{urls.repo_api(repo)}/check-suites/{run.check_suite_id}",
                "before": None,
                "after": run.head_sha,
                "pull_requests": prs,
                "app": app_json,
                "created_at": when(run.started_at),
                "updated_at": when(run.completed_at or run.started_at),
            }
        )
    output = run.output
    return {
        "id": run.id,
        "head_sha": run.head_sha,
        "node_id": node_id("CheckRun", run.id),
        "external_id": run.external_id,
        "url": api,
        "html_url": f"{urls.repo_web(repo)}/runs/{run.id}",
        "details_url": run.details_url,
        "status": run.status,
        "conclusion": run.conclusion,
        "started_at": when(run.started_at),
        "completed_at": when(run.completed_at),
        "output": {
            "title": output.get("title"),
            "summary": output.get("summary"),
            "text": output.get("text"),
            "annotations_count": len(output.get("annotations", [])),
            "annotations_url": f"{api}/annotations",
        },
        "name": run.name,
        "check_suite": suite,
        "app": app_json,
        "pull_requests": prs,
    }


def _pull_ref(urls: Urls, repo: Repo, record: Issue) -> dict[str, Any]:
    assert record.pull is not None
    small_repo = {"id": repo.id, "url": urls.repo_api(repo), "name": repo.name}
    return {
        "url": f"{urls.repo_api(repo)}/pulls/{record.number}",
        "id": record.id,
        "number": record.number,
        "head": {"ref": record.pull.head_ref, "sha": record.pull.head_sha, "repo": small_repo},
        "base": {"ref": record.pull.base_ref, "sha": record.pull.base_sha, "repo": small_repo},
    }


def git_ref(urls: Urls, repo: Repo, name: str, sha: str) -> dict[str, Any]:
    return {
        "ref": name,
        "node_id": node_id(
            "Ref", int(hashlib.sha256(f"{repo.id}:{name}".encode()).hexdigest()[:8], 16)
        ),
        "url": f"{urls.repo_api(repo)}/git/{name}",
        "object": {
            "sha": sha,
            "type": "commit",
            "url": f"{urls.repo_api(repo)}/git/commits/{sha}",
        },
    }


def person(who: Person) -> dict[str, Any]:
    return {"name": who.name, "email": who.email, "date": utc(who.date)}


def git_commit(urls: Urls, repo: Repo, info: CommitInfo) -> dict[str, Any]:
    api = f"{urls.repo_api(repo)}/git/commits"
    return {
        "sha": info.sha,
        "node_id": node_id("Commit", int(info.sha[:12], 16)),
        "url": f"{api}/{info.sha}",
        "html_url": f"{urls.repo_web(repo)}/commit/{info.sha}",
        "author": person(info.author),
        "committer": person(info.committer),
        "tree": {"sha": info.tree, "url": f"{urls.repo_api(repo)}/git/trees/{info.tree}"},
        "message": info.message,
        "parents": [
            {"sha": p, "url": f"{api}/{p}", "html_url": f"{urls.repo_web(repo)}/commit/{p}"}
            for p in info.parents
        ],
        "verification": {
            "verified": info.signed,
            "reason": "valid" if info.signed else "unsigned",
            "signature": None,
            "payload": None,
            "verified_at": None,
        },
    }


_NOREPLY = re.compile(r"^\d+\+(?P<login>[^@]+)@users\.noreply\.github\.com$")


def login_of_email(em: Emulator, email: str) -> str | None:
    """The login whose noreply address ``email`` is, or None (no account has it)."""
    match = _NOREPLY.match(email)
    known = em.users.get(match["login"].lower()) if match else None
    return known.login if known else None


def user_of_email(em: Emulator, urls: Urls, email: str) -> dict[str, Any] | None:
    """The account an e-mail belongs to, or None as GitHub gives for an unknown e-mail."""
    login = login_of_email(em, email)
    return user(em, urls, login) if login else None


def commit(em: Emulator, urls: Urls, repo: Repo, info: CommitInfo) -> dict[str, Any]:
    """A commit as the REST "commit" schema gives it (``GET pulls/{n}/commits``, ...)."""
    api, web = urls.repo_api(repo), urls.repo_web(repo)
    git_view = git_commit(urls, repo, info)
    return {
        "url": f"{api}/commits/{info.sha}",
        "sha": info.sha,
        "node_id": git_view["node_id"],
        "html_url": f"{web}/commit/{info.sha}",
        "comments_url": f"{api}/commits/{info.sha}/comments",
        "commit": {
            "url": git_view["url"],
            "author": git_view["author"],
            "committer": git_view["committer"],
            "message": info.message,
            "tree": git_view["tree"],
            "comment_count": 0,
            "verification": git_view["verification"],
        },
        "author": user_of_email(em, urls, info.author.email),
        "committer": user_of_email(em, urls, info.committer.email),
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/commit/{p}"}
            for p in info.parents
        ],
    }


def git_tree(urls: Urls, repo: Repo, sha: str, entries: list[TreeEntry]) -> dict[str, Any]:
    api = urls.repo_api(repo)
    items = []
    for entry in entries:
        item: dict[str, Any] = {
            "path": entry.path,
            "mode": entry.mode,
            "type": entry.type,
            "sha": entry.sha,
        }
        if entry.type == "blob":
            item["size"] = entry.size
            item["url"] = f"{api}/git/blobs/{entry.sha}"
        elif entry.type == "tree":
            item["url"] = f"{api}/git/trees/{entry.sha}"
        items.append(item)
    return {"sha": sha, "url": f"{api}/git/trees/{sha}", "tree": items, "truncated": False}


def changed_file(urls: Urls, repo: Repo, head: str, change: FileChange) -> dict[str, Any]:
    """A file of a comparison or a pull request, as GitHub lists it."""
    item: dict[str, Any] = {
        "sha": change.sha,
        "filename": change.filename,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.additions + change.deletions,
        "blob_url": f"{urls.repo_web(repo)}/blob/{head}/{change.filename}",
        "raw_url": f"{urls.repo_web(repo)}/raw/{head}/{change.filename}",
        "contents_url": f"{urls.repo_api(repo)}/contents/{change.filename}?ref={head}",
    }
    if change.previous_filename is not None:
        item["previous_filename"] = change.previous_filename
    return item
