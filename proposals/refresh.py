"""Whose commits are on a proposal's branch: a refresh force-moves it only while all are ours.

Renovate's rule (notes/stage2.md §4): a branch is Farcaster's while every commit on it was
authored and committed by the App's identity (its ``…[bot]@users.noreply.github.com`` email,
:func:`proposals.effects.identity`). One commit by anyone else, and a refresh pauses: the
branch is left as it is and the status comment says so, until ``refresh --force``.
"""

from proposals.effects import Repo


def foreign_commits(repo: Repo, pr_number: int, our_email: str) -> list[str]:
    """The SHAs of the pull request's commits that someone other than the App made."""
    foreign = []
    for item in repo.gh.list_pull_commits(repo.owner, repo.name, pr_number):
        commit = item.get("commit") or {}
        emails = {
            str((commit.get("author") or {}).get("email") or "").lower(),
            str((commit.get("committer") or {}).get("email") or "").lower(),
        }
        if emails != {our_email.lower()}:
            foreign.append(str(item["sha"]))
    return foreign
