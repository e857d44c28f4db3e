"""The emulator's whole world: apps, installations, tokens, repositories, issues, pulls,
comments, review comments, check runs, deliveries; one lock around all of it.

Rules:
- Every read or write of these records happens under ``Emulator.lock`` (uvicorn runs the
  sync routes in a thread pool). The lock is never held across an outgoing HTTP call, so a
  webhook receiver may call back into the emulator while a delivery is in flight.
- Time comes from ``Emulator.now()``: the wall clock plus an offset that tests move forward
  (``POST /_emulator/clock``) to expire tokens without sleeping.
- Ids come from one counter, so no two objects of any kind share an id; it starts at a
  random base per process, so ids (and node_ids) do not repeat across emulator runs.
  Issues and pull requests share one number sequence per repository, as on GitHub.
"""

import base64
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.emulator.gitrepo import BareRepo

PERMISSIONS = ("admin", "maintain", "write", "triage", "read", "none")


@dataclass(frozen=True)
class EmulatorConfig:
    data_dir: Path
    token_lifetime_seconds: int = 3600
    webhook_timeout_seconds: float = 10.0
    codeload_lifetime_seconds: int = 300
    # Where the id counter starts; None picks a random 9-digit base, so that a comment made
    # by a later emulator run never repeats an earlier one's id and node_id (the bot keys
    # jobs on the comment's node_id, and its database may outlive the emulator).
    first_id: int | None = None


@dataclass
class User:
    login: str
    id: int
    type: str  # User, Bot or Organization


@dataclass
class App:
    id: int
    slug: str
    name: str
    owner: str
    public_key_pem: str
    client_id: str
    client_secret: str
    webhook_url: str | None
    webhook_secret: str | None
    created_at: datetime
    permissions: dict[str, str]
    events: list[str]
    description: str | None = None
    external_url: str | None = None

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Installation:
    id: int
    app_id: int
    account: str
    created_at: datetime


@dataclass
class Token:
    value: str
    installation_id: int
    expires_at: datetime


@dataclass
class Pull:
    head_ref: str
    base_ref: str
    head_sha: str
    base_sha: str
    draft: bool
    maintainer_can_modify: bool
    merged: bool = False
    merged_at: datetime | None = None
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    # Pending review requests: logins, and slugs of teams of the repository's organisation.
    requested_reviewers: list[str] = field(default_factory=list)
    requested_teams: list[str] = field(default_factory=list)
    review_comment_ids: list[int] = field(default_factory=list)


@dataclass
class Label:
    id: int
    name: str
    color: str


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str | None
    user: str
    created_at: datetime
    updated_at: datetime
    state: str = "open"
    closed_at: datetime | None = None
    pull: Pull | None = None
    comment_ids: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # names, as the repository spells them


@dataclass
class Reaction:
    id: int
    user: str
    content: str
    created_at: datetime


@dataclass
class Comment:
    id: int
    owner: str
    repo: str
    issue_number: int
    user: str
    body: str
    created_at: datetime
    updated_at: datetime
    author_association: str
    app_id: int | None  # the App that posted it (performed_via_github_app)
    reactions: list[Reaction] = field(default_factory=list)
    # Every body it had, with when (full precision, the emulator's clock): GitHub's edit
    # history, for tests that check a status comment went through its phases in order.
    history: list[tuple[datetime, str]] = field(default_factory=list)


@dataclass(frozen=True)
class RefMove:
    """A branch or tag created, moved or deleted, by whom and how (the repository's log)."""

    ref: str
    before: str  # 40 zeros when created
    after: str  # 40 zeros when deleted
    forced: bool
    by: str
    via: str  # "api" (the App), "push" (a human), "merge"
    at: datetime


@dataclass
class ReviewComment:
    """An inline comment on a pull request's diff (see ``reviews.py``)."""

    id: int
    review_id: int
    owner: str
    repo: str
    pull_number: int
    user: str
    body: str
    path: str
    line: int
    side: str
    start_line: int | None
    start_side: str | None
    commit_id: str
    diff_hunk: str
    position: int
    created_at: datetime
    updated_at: datetime
    author_association: str
    in_reply_to_id: int | None = None
    app_id: int | None = None
    reactions: list[Reaction] = field(default_factory=list)


@dataclass
class CheckRun:
    id: int
    owner: str
    repo: str
    name: str
    head_sha: str
    app_id: int
    check_suite_id: int
    status: str = "queued"
    conclusion: str | None = None
    external_id: str = ""
    details_url: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    output: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Repo:
    id: int
    owner: str
    name: str
    default_branch: str
    private: bool
    git: BareRepo
    created_at: datetime
    description: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)  # lower-cased name -> label
    next_number: int = 1
    ref_log: list[RefMove] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Attempt:
    """One POST of a delivery: what GitHub's deliveries API lists as a "hook delivery"."""

    id: int  # the hook delivery id (GET /app/hook/deliveries/{id}); a new one per attempt
    at: datetime
    status: int | None  # what the receiver answered; None when it could not be reached
    error: str | None  # why it could not be reached (None when it answered)
    redelivery: bool
    duration: float  # seconds
    url: str = ""  # where it was sent (the App's webhook URL at that moment)
    timed_out: bool = False
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None


@dataclass
class Delivery:
    """One App's copy of one event; every attempt to deliver it shares ``guid``."""

    guid: str
    event: str
    action: str | None
    app_id: int
    url: str
    body: bytes
    installation_id: int | None = None
    repository_id: int | None = None
    attempts: list[Attempt] = field(default_factory=list)


@dataclass
class PendingManifest:
    code: str
    manifest: dict[str, Any]
    owner: str
    created_at: datetime


@dataclass
class Codeload:
    token: str
    owner: str
    repo: str
    sha: str
    expires_at: datetime


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global id format: base64 of ``"<len>:<Type><id>"``."""
    return base64.b64encode(f"{len(kind):03d}:{kind}{number}".encode()).decode()


class Emulator:
    """Registries and lookups. Callers hold ``lock`` for every use."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.clock_offset = timedelta(0)
        # When set, commits the App creates are signed, so their SHAs differ on every call
        # (POST /_emulator/settings {"sign_commits": true}).
        self.sign_commits = False
        # When set, the App's own comments, pull requests and check runs deliver the
        # webhooks GitHub sends for them (POST /_emulator/settings, see own_events.py).
        self.deliver_own_events = False
        self._next_id = (
            config.first_id if config.first_id is not None else 10**8 + secrets.randbelow(8 * 10**8)
        )
        self.users: dict[str, User] = {}
        self.apps: dict[int, App] = {}
        self.installations: dict[int, Installation] = {}
        self.tokens: dict[str, Token] = {}
        self.tokens_issued = 0
        self.repos: dict[str, Repo] = {}
        self.comments: dict[int, Comment] = {}
        self.review_comments: dict[int, ReviewComment] = {}
        self.check_runs: dict[int, CheckRun] = {}
        self.check_suites: dict[tuple[str, str, int], int] = {}
        self.deliveries: dict[str, list[Delivery]] = {}
        # Every attempt by its id, oldest first (ids grow): the App's deliveries log.
        self.attempts: dict[int, tuple[Delivery, Attempt]] = {}
        self.manifests: dict[str, PendingManifest] = {}
        self.codeloads: dict[str, Codeload] = {}
        self.teams: dict[str, int] = {}  # "org/slug" (lower-cased) -> team id

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0) + self.clock_offset

    def precise_now(self) -> datetime:
        """``now`` with microseconds, for logs that time things within a second."""
        return datetime.now(UTC) + self.clock_offset

    def next_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def user(self, login: str, kind: str = "User") -> User:
        """The user called ``login``, created on first mention (every login exists here)."""
        found = self.users.get(login.lower())
        if found is None:
            found = User(login, self.next_id(), kind)
            self.users[login.lower()] = found
        return found

    def team_id(self, org: str, slug: str) -> int:
        """The id of team ``org/slug``, created on first mention (every team exists here)."""
        key = f"{org}/{slug}".lower()
        if key not in self.teams:
            self.teams[key] = self.next_id()
        return self.teams[key]

    def repo(self, owner: str, name: str) -> Repo | None:
        return self.repos.get(f"{owner}/{name}".lower())

    def repos_dir(self) -> Path:
        return self.config.data_dir / "repos"

    def installation_for(self, app_id: int, account: str) -> Installation | None:
        for inst in self.installations.values():
            if inst.app_id == app_id and inst.account.lower() == account.lower():
                return inst
        return None

    def installations_on(self, account: str) -> list[Installation]:
        return [i for i in self.installations.values() if i.account.lower() == account.lower()]

    def permission(self, repo: Repo, login: str) -> str:
        """Role of ``login``: set by admin; the owner is admin; others read a public repo."""
        role = repo.permissions.get(login.lower())
        if role is not None:
            return role
        if login.lower() == repo.owner.lower():
            return "admin"
        return "none" if repo.private else "read"

    def is_collaborator(self, repo: Repo, login: str) -> bool:
        """The owner, or a login given a role on the repository (reading a public one is not
        enough: GitHub requests reviews only from collaborators)."""
        if login.lower() == repo.owner.lower():
            return True
        return repo.permissions.get(login.lower(), "none") != "none"

    def author_association(self, repo: Repo, login: str) -> str:
        if login.lower() == repo.owner.lower():
            return "OWNER"
        if repo.permissions.get(login.lower(), "none") != "none":
            return "COLLABORATOR"
        return "NONE"
