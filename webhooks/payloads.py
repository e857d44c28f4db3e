"""Lenient views of the webhook payloads intake reads.

githubkit's webhook models are strict and reject real payloads (a field GitHub omits on one
server version, a new ``action``), so intake reads only the few fields it needs with these
models: unknown fields are ignored, fields it can live without are optional. A payload that
lacks a field marked required here is not one GitHub sends; intake answers it with 400.

Lenient about which fields exist, strict about what they hold: values are never converted
(``"900005"`` is not an id, ``true`` is not a number), and a text field holding a control
character (a NUL, an escape; tab and line ends are text) is refused. GitHub sends neither,
and both engines then refuse alike instead of one storing what the other cannot.
"""

import functools
import re
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

M = TypeVar("M", bound=BaseModel)

# GitHub refuses comments longer than this; a longer one did not come from GitHub.
MAX_COMMENT_CHARS = 65_536

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _no_control_characters(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("holds a control character")
    return value


Text = Annotated[str, AfterValidator(_no_control_characters)]


def _as_long_as_github_allows(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_COMMENT_CHARS:
        raise ValueError(
            f"the comment has {len(value)} characters; GitHub allows at most {MAX_COMMENT_CHARS}"
        )
    return value


CommentBody = Annotated[Text | None, AfterValidator(_as_long_as_github_allows)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class Account(_Lenient):
    login: Text
    type: Text = "User"

    @property
    def is_bot(self) -> bool:
        """Bots (ours included) never give commands: type Bot, or a ``[bot]`` login."""
        return self.type == "Bot" or self.login.lower().endswith("[bot]")


class Repository(_Lenient):
    full_name: Text = Field(pattern=r"^[^/\s]+/[^/\s]+$")
    default_branch: Text | None = None

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
    node_id: Text
    body: CommentBody = None
    user: Account
    html_url: Text | None = None


class IssueCommentEvent(_Lenient):
    action: Text
    issue: Issue
    comment: Comment
    repository: Repository
    sender: Account
    installation: Installation | None = None


class CheckRunApp(_Lenient):
    id: int | None = None


class CheckRun(_Lenient):
    id: int
    name: Text | None = None
    external_id: Text | None = None
    app: CheckRunApp | None = None


class CheckRunEvent(_Lenient):
    action: Text
    check_run: CheckRun
    repository: Repository
    sender: Account
    installation: Installation | None = None


class BranchRef(_Lenient):
    ref: Text
    repo: Repository | None = None


class PullRequest(_Lenient):
    number: int
    merged: bool = False
    head: BranchRef
    html_url: Text | None = None
    merged_by: Account | None = None


class ReviewComment(Comment):
    """An inline review comment: a comment on a line (``line``) of a file of the PR."""

    path: Text | None = None
    line: int | None = None


class ReviewPull(_Lenient):
    number: int
    head: BranchRef


class ReviewCommentEvent(_Lenient):
    action: Text
    comment: ReviewComment
    pull_request: ReviewPull
    repository: Repository
    sender: Account
    installation: Installation | None = None


class PushCommit(_Lenient):
    id: Text
    added: list[Text] = []
    removed: list[Text] = []
    modified: list[Text] = []


class PushEvent(_Lenient):
    ref: Text
    before: Text
    after: Text
    created: bool = False
    deleted: bool = False
    forced: bool = False
    commits: list[PushCommit] = []
    repository: Repository
    installation: Installation | None = None


class PullRequestEvent(_Lenient):
    action: Text
    pull_request: PullRequest
    repository: Repository
    sender: Account
    installation: Installation | None = None


class InstallationEvent(_Lenient):
    action: Text
    installation: Installation
    sender: Account | None = None


class Envelope(_Lenient):
    """What every event may carry and intake reads before routing: checked for all of them."""

    action: Text | None = None
    installation: Installation | None = None
    repository: Repository | None = None
    sender: Account | None = None


class PayloadError(Exception):
    """The payload lacks what GitHub always sends: intake answers 400 and records nothing."""


def describe(exc: ValidationError) -> str:
    """One line naming the first field that is missing or wrong."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the payload"
    return f"payload field {where}: {first['msg'].lower()}"


@functools.cache
def with_envelope(model: type[M]) -> type[M] | None:
    """``model`` with the :class:`Envelope` fields it lacks added as the envelope reads them,
    so that one parse checks both: a payload it accepts, ``Envelope`` and ``model`` accept
    too. None when ``model`` reads an envelope field otherwise than the envelope does or
    more strictly (same annotation, or the envelope's is that one ``| None``)."""
    extra: dict[str, Any] = {}
    for name, field in Envelope.model_fields.items():
        wanted = field.rebuild_annotation()
        own = model.model_fields.get(name)
        if own is None:
            extra[name] = (wanted, field.default)
        elif wanted not in (own.rebuild_annotation(), own.rebuild_annotation() | None):
            return None
    return create_model(f"{model.__name__}InEnvelope", __base__=model, **extra)


def read_payload_json(model: type[M], body: bytes) -> M | None:
    """``model`` read straight from the raw body: one parse, no dict built. None when that
    fails for any reason; the caller then reads the payload with ``json.loads`` and
    :func:`read_payload`, which decide the answer and name the first problem.

    What this accepts, those accept too, read alike: the parser refuses all that ``json.loads``
    refuses (invalid UTF-8, raw control characters, trailing data, bad escapes and numbers)
    and more (lone surrogates, UTF-16, a byte-order mark, deep nesting), and the models are
    strict, so values read from JSON are those of the parsed dict.
    """
    try:
        return model.model_validate_json(body)
    except ValueError:  # ValidationError included
        return None


def read_payload(model: type[M], payload: dict[str, Any]) -> M:
    """Validate ``payload`` as ``model``; a missing required field raises :class:`PayloadError`."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise PayloadError(describe(exc)) from None
