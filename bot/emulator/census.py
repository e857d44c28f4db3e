"""Counts of everything the App has done, read from the outside by tests.

For each repository: refs, every branch head, for each ``farcaster/*`` branch the number of
commits reachable from it that are not on the default branch, issues, pull requests (by
state and head branch), comments (by author), review comments (by author, and replies),
moves of each ref (all, and forced ones), check runs (by name and status), reactions (by
content), labels (by issue) and pending review requests (by pull request). A test
asserting "exactly one PR, one commit, one status comment" reads these numbers rather than
trusting the bot's own records.
"""

from collections import Counter
from typing import Any

from bot.emulator.state import Emulator, Repo

BOT_BRANCH_PREFIX = "farcaster/"


def repo_counts(em: Emulator, repo: Repo) -> dict[str, Any]:
    git = repo.git
    heads = {name.removeprefix("refs/heads/"): sha for name, sha in git.refs("refs/heads/").items()}
    default_sha = heads.get(repo.default_branch)
    bot_branches = {
        name: {
            "sha": sha,
            "commits_not_on_default": git.count(sha, default_sha) if default_sha else None,
        }
        for name, sha in heads.items()
        if name.startswith(BOT_BRANCH_PREFIX)
    }
    pulls = [i for i in repo.issues.values() if i.pull is not None]
    comments = [em.comments[c] for i in repo.issues.values() for c in i.comment_ids]
    runs = [r for r in em.check_runs.values() if (r.owner, r.repo) == (repo.owner, repo.name)]
    reactions = [r for c in comments for r in c.reactions]
    review_comments = [
        em.review_comments[i] for p in pulls if p.pull for i in p.pull.review_comment_ids
    ]
    return {
        "default_branch": repo.default_branch,
        "refs": len(git.refs("refs/")),
        "branches": heads,
        "farcaster_branches": bot_branches,
        "issues": len(repo.issues) - len(pulls),
        "pulls": {
            "total": len(pulls),
            "open": sum(1 for p in pulls if p.state == "open"),
            "closed": sum(1 for p in pulls if p.state == "closed"),
            "merged": sum(1 for p in pulls if p.pull and p.pull.merged),
            "by_head": dict(Counter(p.pull.head_ref for p in pulls if p.pull)),
        },
        "comments": {
            "total": len(comments),
            "by_author": dict(Counter(c.user for c in comments)),
            # issue number -> author -> count: "one status comment on this issue"
            "by_issue": {
                str(number): dict(Counter(em.comments[c].user for c in issue.comment_ids))
                for number, issue in repo.issues.items()
                if issue.comment_ids
            },
        },
        # ref -> how often it moved (created, moved, deleted) and how often by force
        "ref_moves": {
            name: {
                "total": sum(1 for m in repo.ref_log if m.ref == name),
                "forced": sum(1 for m in repo.ref_log if m.ref == name and m.forced),
            }
            for name in dict.fromkeys(m.ref for m in repo.ref_log)
        },
        "review_comments": {
            "total": len(review_comments),
            "by_author": dict(Counter(c.user for c in review_comments)),
            "replies": sum(1 for c in review_comments if c.in_reply_to_id is not None),
        },
        "check_runs": {
            "total": len(runs),
            "by_name": dict(Counter(r.name for r in runs)),
            "by_status": dict(Counter(r.status for r in runs)),
            # job id -> the conclusions of its runs: "one check run for this job, a success"
            "by_external_id": {
                ext: [r.conclusion for r in runs if r.external_id == ext]
                for ext in sorted({r.external_id for r in runs if r.external_id})
            },
        },
        "reactions": {
            "total": len(reactions),
            "by_content": dict(Counter(r.content for r in reactions)),
        },
        # issue or pull number -> its label names: "the PR has the label, once"
        "labels": {str(n): list(i.labels) for n, i in repo.issues.items() if i.labels},
        # pull number -> pending review requests: logins, then org/team for teams
        "review_requests": {
            str(p.number): [
                *p.pull.requested_reviewers,
                *(f"{repo.owner}/{slug}" for slug in p.pull.requested_teams),
            ]
            for p in pulls
            if p.pull and (p.pull.requested_reviewers or p.pull.requested_teams)
        },
    }


def counts(em: Emulator) -> dict[str, Any]:
    return {
        "repos": {repo.full_name: repo_counts(em, repo) for repo in em.repos.values()},
        "apps": len(em.apps),
        "installations": len(em.installations),
        "tokens_issued": em.tokens_issued,
        "deliveries": sum(len(d) for d in em.deliveries.values()),
    }
