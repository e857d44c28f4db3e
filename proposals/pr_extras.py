"""Labels and review requests on the job's pull request, from ``.github/farcaster.yml``.

The rules:

- Only an open pull request gets them (the interpreter checks); settings naming neither
  labels nor reviewers mean no call at all.
- Labels: one call. GitHub creates a label the repository lacks and never puts one on a
  pull request twice, so repeating the call changes nothing.
- Reviewers are logins or ``org/team``. GitHub takes a team by its slug, and only a team of
  the repository's own organisation: another organisation's team is refused here, without
  a call. Requesting a reviewer already requested changes nothing.
- GitHub refuses the *whole* request with 422 when any one reviewer cannot review (not a
  collaborator, or the pull request's author). Then each reviewer is requested alone, so
  those who can review are still asked and the refusal names exactly those who cannot.
- A refusal is reported, never a failure: the pull request stands either way.
"""

from dataclasses import dataclass, field

from bot.core.repo_config import PullRequestConfig
from proposals.effects import Repo

FOREIGN_TEAM = "a team of another organisation cannot review this repository"


@dataclass(frozen=True)
class Reviewers:
    """The configured reviewers, split the way GitHub's request wants them."""

    users: list[str] = field(default_factory=list)
    teams: dict[str, str] = field(default_factory=dict)  # slug -> "org/slug" as configured
    foreign: list[str] = field(default_factory=list)  # teams of another organisation


def split_reviewers(owner: str, reviewers: list[str]) -> Reviewers:
    """Logins and team slugs, each once (GitHub's names are case-insensitive), in order."""
    split = Reviewers()
    seen: set[str] = set()
    for reviewer in reviewers:
        if reviewer.lower() in seen:
            continue
        seen.add(reviewer.lower())
        org, slash, slug = reviewer.partition("/")
        if not slash:
            split.users.append(reviewer)
        elif org.lower() == owner.lower():
            split.teams[slug] = reviewer
        else:
            split.foreign.append(reviewer)
    return split


@dataclass(frozen=True)
class Applied:
    """What the pull request got: the ledger's record of the step."""

    pr_number: int
    labels: list[str]
    reviewers: list[str]  # requested, as configured
    refused: dict[str, str]  # reviewer -> why GitHub (or the team rule) refused them


def apply_extras(repo: Repo, number: int, config: PullRequestConfig) -> Applied:
    """Label the pull request and request its reviews."""
    labels = list(dict.fromkeys(config.labels))
    if labels:
        repo.gh.add_labels(repo.owner, repo.name, number, labels)
    split = split_reviewers(repo.owner, config.reviewers)
    refused = {team: FOREIGN_TEAM for team in split.foreign}
    requested: list[str] = []
    if split.users or split.teams:
        wanted = [*split.users, *split.teams.values()]
        why = repo.gh.request_reviewers(
            repo.owner, repo.name, number, split.users, list(split.teams)
        )
        if why is None:
            requested = wanted
        elif len(wanted) == 1:
            refused[wanted[0]] = why
        else:  # someone cannot review: ask each alone to find out who
            for user in split.users:
                alone = repo.gh.request_reviewers(repo.owner, repo.name, number, [user], [])
                _sort(user, alone, requested, refused)
            for slug, team in split.teams.items():
                alone = repo.gh.request_reviewers(repo.owner, repo.name, number, [], [slug])
                _sort(team, alone, requested, refused)
    return Applied(number, labels, requested, refused)


def _sort(reviewer: str, why: str | None, requested: list[str], refused: dict[str, str]) -> None:
    if why is None:
        requested.append(reviewer)
    else:
        refused[reviewer] = why


def refusal_message(refused: dict[str, str]) -> str:
    """One line for the job's events: who was not asked to review, and GitHub's reason."""
    reasons = "; ".join(f"{who}: {why}" for who, why in refused.items())
    return f"Review not requested from {', '.join(refused)}; the pull request stands ({reasons})."
