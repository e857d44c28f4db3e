"""Lenient views of the webhook payloads intake reads.

githubkit's webhook models are strict and reject real payloads (a field GitHub omits on one
server version, a new ``action``), so intake reads only the few fields it needs with these
models: unknown fields are ignored, fields it can live without are optional. A payload that
lacks a field marked required here is not one GitHub sends; intake answers it with 400.
"""

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

M = TypeVar("M", bound=BaseModel)

# GitHub refuses comments longer than this; a longer one did not come from GitHub.
MAX_COMMENT_CHARS = 65_536


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(_Lenient):
    login: str
    type: str = "User"

    @property
    def is_bot(self) -> bool:
        """Bots (ours included) never give commands: type Bot, or a ``[bot]`` login."""
        return self.type == "Bot" or self.login.lower().endswith("[bot]")


class Repository(_Lenient):
    full_name: str = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    default_branch: str | None = None

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


class Installation(_Lenient):
    id: int


class Issue(_Lenient):
    number: int
    pull_request: dict[str, Any] | None = None

    @property
    def is_pull_request(self) -> bool:
        return self.pull_request is not None


class Comment(_Lenient):
    id: int
    node_id: str
    body: str | None = None
    user: Account
    html_url: str | None = None


class IssueCommentEvent(_Lenient):
    action: str
    issue: Issue
    comment: Comment
    repository: Repository
    sender: Account
    installation: Installation | None = None


class CheckRunApp(_Lenient):
    id: int | None = None


class CheckRun(_Lenient):
    id: int
    name: str | None = None
    external_id: str | None = None
    app: CheckRunApp | None = None


class CheckRunEvent(_Lenient):
    action: str
    check_run: CheckRun
    repository: Repository
    sender: Account
    installation: Installation | None = None


class BranchRef(_Lenient):
    ref: str
    repo: Repository | None = None


class PullRequest(_Lenient):
    number: int
    merged: bool = False
    head: BranchRef
    html_url: str | None = None
    merged_by: Account | None = None


class PullRequestEvent(_Lenient):
    action: str
    pull_request: PullRequest
    repository: Repository
    sender: Account
    installation: Installation | None = None


class InstallationEvent(_Lenient):
    action: str
    installation: Installation
    sender: Account | None = None


class PayloadError(Exception):
    """The payload lacks what GitHub always sends: intake answers 400 and records nothing."""


def describe(exc: ValidationError) -> str:
    """One line naming the first field that is missing or wrong."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the payload"
    return f"payload field {where}: {first['msg'].lower()}"


def read_payload(model: type[M], payload: dict[str, Any]) -> M:
    """Validate ``payload`` as ``model``; a missing required field raises :class:`PayloadError`."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError(describe(exc)) from None
