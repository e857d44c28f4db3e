"""Drift: may a proposal made on an older base still be applied? (a pure rule, a thin fetch)

The rule. Let *changed* be the files the base branch changed since the proposal's base SHA.

- The branch still points at the base SHA: no drift.
- The branch moved forward and *changed* holds no file the diff touches (renames count on
  both names): the proposal is still valid. It is applied on its recorded base, and the pull
  request shows it there; GitHub merges it like any other branch.
- A touched file is in *changed*: the proposal is stale. The job runs again on the new head.
- The branch no longer contains the base SHA (a force push or reset), or GitHub's file list
  was capped so we cannot see everything: stale too. When unsure, re-run; never apply blindly.
"""

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from bot.github.client import GitHubClient

# GitHub's compare endpoint lists at most 300 files; at that count the list may be partial.
COMPARE_FILE_CAP = 300


@dataclass(frozen=True)
class Comparison:
    """What GitHub's compare of base...head says, reduced to what the rule needs."""

    status: str  # "identical", "ahead", "behind" or "diverged"
    changed: frozenset[str]  # file names, with the previous name of renamed files
    complete: bool  # False when GitHub may have left files out


@dataclass(frozen=True)
class Drift:
    head: str  # the base branch's head SHA when checked
    stale: bool
    reason: str  # "none", "untouched", "touched", "rewritten" or "unknown"
    files: tuple[str, ...]  # the touched files that changed (sorted)
    changed_elsewhere: int  # how many changed files the proposal does not touch


def comparison_from(payload: Mapping[str, Any]) -> Comparison:
    files = payload.get("files") or []
    changed: set[str] = set()
    for entry in files:
        changed.add(str(entry["filename"]))
        if entry.get("previous_filename"):
            changed.add(str(entry["previous_filename"]))
    return Comparison(
        status=str(payload.get("status", "diverged")),
        changed=frozenset(changed),
        complete=len(files) < COMPARE_FILE_CAP,
    )


def decide(
    touched: Collection[str], base_sha: str, head_sha: str, comparison: Comparison | None
) -> Drift:
    """The rule above. ``comparison`` may be None only when head equals base."""
    if head_sha == base_sha or comparison is None or comparison.status == "identical":
        return Drift(head_sha, False, "none", (), 0)
    hit = tuple(sorted(set(touched) & comparison.changed))
    elsewhere = len(comparison.changed - set(touched))
    if comparison.status != "ahead":
        return Drift(head_sha, True, "rewritten", hit, elsewhere)
    if hit:
        return Drift(head_sha, True, "touched", hit, elsewhere)
    if not comparison.complete:
        return Drift(head_sha, True, "unknown", hit, elsewhere)
    return Drift(head_sha, False, "untouched", (), elsewhere)


def check(
    gh: GitHubClient,
    owner: str,
    repo: str,
    *,
    base_sha: str,
    branch: str,
    touched: Collection[str],
) -> Drift:
    """Fetch the branch head and, if it moved, the comparison; then apply the rule."""
    head = gh.branch_head(owner, repo, branch)
    if head == base_sha:
        return decide(touched, base_sha, head, None)
    comparison = comparison_from(gh.compare(owner, repo, base_sha, head))
    return decide(touched, base_sha, head, comparison)
