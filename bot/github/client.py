"""A thin, synchronous wrapper over githubkit for exactly the endpoints in DESIGN.md.

Every method returns plain JSON (``dict``/``list``): githubkit's strict models reject
minimal but valid responses, and we read only a few fields. Every githubkit or httpx error
is translated here into :mod:`bot.core.errors`; nothing above this module sees them.

Retries: a 5xx is retried twice quickly inside the call; a rate limit is never slept on
here. It raises :class:`~bot.core.errors.RateLimited` with ``retry_after`` so the caller can
re-queue the job and free its lease.

Credentials heal themselves: each client keeps its installation's token in a cache of its
own. A 401 on a call made with that token (it expired early, GitHub was restarted, the clock
jumped) drops the cache, mints a new token and repeats the call once; GitHub did not act on
a request it refused with 401, so repeating it is safe. A second 401, or a 401 on the App's
own JWT while minting, raises :class:`~bot.core.errors.CredentialsRejected`: retry later,
never final. A JWT refused because the clocks disagree is signed again on GitHub's time
(bot/github/app_auth.py) before that.
"""

import base64
import functools
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
from githubkit import GitHub
from githubkit.cache import MemCacheStrategy
from githubkit.exception import GitHubException, RateLimitExceeded, RequestError, RequestFailed
from githubkit.retry import RetryOption

from bot.core.errors import (
    CredentialsRejected,
    GitHubError,
    GitHubRefused,
    GitHubUnavailable,
    RateLimited,
)
from bot.core.permissions import Permission
from bot.core.settings import Settings
from bot.github.app_auth import ClockedAppAuth, ClockedInstallationAuth, GitHubClock

# What GitHub counts as content creation (its secondary limit: about 80 a minute).
CONTENT_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})

# Observers of every call (endpoint template, status, seconds); metrics register here.
CallObserver = Callable[[str, str, int, float], None]
_observers: list[CallObserver] = []


def observe_calls(observer: CallObserver) -> None:
    _observers.append(observer)


def _retry_decision(exc: GitHubException, count: int) -> RetryOption:
    if isinstance(exc, RateLimitExceeded):
        return RetryOption(False)
    if isinstance(exc, RequestFailed) and exc.response.status_code >= 500:
        return RetryOption(count < 2, timedelta(seconds=0.2 * 2**count))
    return RetryOption(False)


def _base_url(url: str) -> str:
    return url.rstrip("/") + "/"


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client of the process.

    githubkit opens a new httpx client per call (outside ``with gh:``), and httpx would
    load the CA bundle again each time (~50 ms of CPU per GitHub call); a context is
    safe to share between threads and connections.
    """
    return httpx.create_ssl_context()


class _KeepAliveTransport(httpx.HTTPTransport):
    """A connection pool that outlives githubkit's per-call clients.

    githubkit keeps a client open only inside ``with gh:``, and that is per thread (a
    ContextVar), while our calls come from the request threadpool and the worker threads.
    Without a shared pool every call would open a new TCP (and TLS) connection. Each
    per-call client "closes" this transport as it exits, so closing is a no-op here; the
    pool lives as long as the process.
    """

    def close(self) -> None:
        pass

    def __exit__(self, *args: object) -> None:
        pass


@functools.cache
def shared_transport() -> httpx.HTTPTransport:
    return _KeepAliveTransport(
        verify=shared_ssl_context(), limits=httpx.Limits(max_connections=100)
    )


def make_installation_github(
    settings: Settings,
    installation_id: int | None,
    *,
    transport: httpx.BaseTransport | None = None,
    cache: MemCacheStrategy | None = None,
) -> GitHub[Any]:
    """A client of one installation; with ``installation_id`` None, of the App itself (its
    JWT, for ``/app/*`` endpoints)."""
    auth: ClockedInstallationAuth | ClockedAppAuth = (
        ClockedAppAuth(settings.require_app_id(), settings.private_key_pem())
        if installation_id is None
        else ClockedInstallationAuth(
            settings.require_app_id(), settings.private_key_pem(), installation_id
        )
    )
    return GitHub(
        auth,
        base_url=_base_url(settings.github_api_url),
        user_agent="farcaster-bot",
        timeout=httpx.Timeout(10.0, read=60.0),
        http_cache=False,
        auto_retry=_retry_decision,
        transport=transport if transport is not None else shared_transport(),
        cache_strategy=cache,
        ssl_verify=shared_ssl_context(),
    )


class GitHubClient:
    """The REST calls of one installation."""

    def __init__(
        self,
        gh: GitHub[Any],
        *,
        api_version: str = "2022-11-28",
        token_cache: MemCacheStrategy | None = None,
        pace: Callable[[], None] | None = None,
    ) -> None:
        self._gh = gh
        self._token_cache = token_cache
        self._pace = pace
        self._headers = {
            "X-GitHub-Api-Version": api_version,
            "Accept": "application/vnd.github+json",
        }

    @classmethod
    def for_installation(
        cls,
        settings: Settings,
        installation_id: int,
        *,
        transport: httpx.BaseTransport | None = None,
        cache: MemCacheStrategy | None = None,
        pace: Callable[[], None] | None = None,
    ) -> "GitHubClient":
        # A cache of its own, so that a 401 drops this installation's token and no other's.
        cache = cache if cache is not None else MemCacheStrategy()
        gh = make_installation_github(settings, installation_id, transport=transport, cache=cache)
        return cls(gh, api_version=settings.github_api_version, token_cache=cache, pace=pace)

    @classmethod
    def for_app(
        cls,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        cache: MemCacheStrategy | None = None,
    ) -> "GitHubClient":
        """The App's own client (JWT): its webhook deliveries (``/app/hook/*``)."""
        cache = cache if cache is not None else MemCacheStrategy()
        gh = make_installation_github(settings, None, transport=transport, cache=cache)
        return cls(gh, api_version=settings.github_api_version, token_cache=cache)

    # -- plumbing -------------------------------------------------------------------------

    def _learn_clock(self, response: httpx.Response) -> bool:
        auth = self._gh.auth
        clock: GitHubClock | None = getattr(auth, "clock", None)
        return clock is not None and clock.learn(response)

    def _call(
        self,
        method: str,
        template: str,
        *args: Any,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        token_refused_before = False
        while True:
            try:
                return self._call_once(method, template, *args, params=params, json=json)
            except _ClockCorrected:
                pass  # the next JWT is signed on GitHub's time: mint again
            except _JwtRefused:
                raise  # the App's own key or id is refused: a new token cannot help
            except CredentialsRejected:
                if self._token_cache is None or token_refused_before:
                    raise
                token_refused_before = True
            if self._token_cache is not None:
                self._token_cache.cleanup()  # drop the refused token and JWT: mint anew

    def _call_once(
        self,
        method: str,
        template: str,
        *args: Any,
        params: dict[str, Any] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        url = template.format(*args)
        if self._pace is not None and method in CONTENT_METHODS:
            self._pace()
        started = time.monotonic()
        status = 0
        try:
            response = self._gh.request(
                method, url, params=params, json=json, headers=self._headers
            )
            status = response.status_code
            return response.raw_response
        except RateLimitExceeded as exc:
            status = exc.response.status_code
            wait = max(1.0, exc.retry_after.total_seconds())
            raise RateLimited(
                f"GitHub rate limit on {method} {url}; retry in {wait:.0f} s.",
                retry_after=wait,
                status=status,
            ) from None
        except RequestFailed as exc:
            status = exc.response.status_code
            message = _message_of(exc.response.raw_response)
            if status == 401:
                raise CredentialsRejected(
                    f"GitHub refused the installation token ({message}) on {method} {url}."
                ) from None
            if status >= 500:
                raise GitHubUnavailable(
                    f"GitHub answered {status} to {method} {url}: {message}", status=status
                ) from None
            raise GitHubRefused(
                f"GitHub answered {status} to {method} {url}: {message}", status=status
            ) from None
        except RequestError as exc:
            inner = getattr(exc, "exc", None)
            if isinstance(inner, RequestFailed) and 400 <= inner.response.status_code < 500:
                # The installation-token exchange failed inside githubkit's auth flow: the
                # App id or key is wrong, or the App is not installed. Waiting will not help.
                status = inner.response.status_code
                if status == 401 and self._learn_clock(inner.response.raw_response):
                    raise _ClockCorrected("GitHub's clock differs from ours.") from None
                if status == 401:
                    raise _JwtRefused(
                        "GitHub refused the App's own token (401: "
                        f"{_message_of(inner.response.raw_response)}) while minting an "
                        "installation token; check the App id, the private key and the clock."
                    ) from None
                raise GitHubRefused(
                    f"GitHub refused the App's credentials ({status}: "
                    f"{_message_of(inner.response.raw_response)}); check FARCASTER_GITHUB_APP_ID, "
                    "the private key and that the App is installed.",
                    status=status,
                    reason_code="github_auth",
                ) from None
            raise GitHubUnavailable(
                f"GitHub could not be reached for {method} {url}: {exc}"
            ) from None
        except GitHubException as exc:
            raise GitHubError(f"GitHub call {method} {url} failed: {exc}") from None
        finally:
            for observer in _observers:
                observer(method, template, status, time.monotonic() - started)

    def _json(self, method: str, template: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(method, template, *args, **kwargs).json()

    def _json_or_none(self, method: str, template: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._json(method, template, *args, **kwargs)
        except GitHubRefused as exc:
            if exc.status == 404:
                return None
            raise

    def _pages(
        self, template: str, *args: Any, params: dict[str, Any] | None = None
    ) -> Iterator[Any]:
        page = 1
        while True:
            batch = self._json(
                "GET", template, *args, params={**(params or {}), "per_page": 100, "page": page}
            )
            items = batch if isinstance(batch, list) else batch.get("check_runs", [])
            yield from items
            if len(items) < 100:
                return
            page += 1

    # -- repositories and git data --------------------------------------------------------

    def get_repo(self, owner: str, repo: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/repos/{}/{}", owner, repo)
        return result

    def branch_head(self, owner: str, repo: str, branch: str) -> str:
        ref = self._json("GET", "/repos/{}/{}/git/ref/heads/{}", owner, repo, branch)
        return str(ref["object"]["sha"])

    def get_ref(self, owner: str, repo: str, branch: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._json_or_none(
            "GET", "/repos/{}/{}/git/ref/heads/{}", owner, repo, branch
        )
        return result

    def get_commit(self, owner: str, repo: str, sha: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json("GET", "/repos/{}/{}/git/commits/{}", owner, repo, sha)
        return result

    def compare(self, owner: str, repo: str, base: str, head: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "GET", "/repos/{}/{}/compare/{}...{}", owner, repo, base, head
        )
        return result

    def get_tree(
        self, owner: str, repo: str, sha: str, *, recursive: bool = True
    ) -> dict[str, Any]:
        params = {"recursive": "1"} if recursive else None
        result: dict[str, Any] = self._json(
            "GET", "/repos/{}/{}/git/trees/{}", owner, repo, sha, params=params
        )
        return result

    def get_blob(self, owner: str, repo: str, sha: str) -> bytes:
        blob = self._json("GET", "/repos/{}/{}/git/blobs/{}", owner, repo, sha)
        if blob.get("encoding") == "base64":
            return base64.b64decode(blob["content"])
        return str(blob["content"]).encode()

    def create_blob(self, owner: str, repo: str, content: bytes) -> str:
        blob = self._json(
            "POST",
            "/repos/{}/{}/git/blobs",
            owner,
            repo,
            json={"content": base64.b64encode(content).decode(), "encoding": "base64"},
        )
        return str(blob["sha"])

    def create_tree(
        self, owner: str, repo: str, *, base_tree: str, entries: list[dict[str, Any]]
    ) -> str:
        tree = self._json(
            "POST",
            "/repos/{}/{}/git/trees",
            owner,
            repo,
            json={"base_tree": base_tree, "tree": entries},
        )
        return str(tree["sha"])

    def create_commit(
        self,
        owner: str,
        repo: str,
        *,
        message: str,
        tree: str,
        parents: list[str],
        author: dict[str, str],
        committer: dict[str, str],
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "POST",
            "/repos/{}/{}/git/commits",
            owner,
            repo,
            json={
                "message": message,
                "tree": tree,
                "parents": parents,
                "author": author,
                "committer": committer,
            },
        )
        return result

    def create_ref(self, owner: str, repo: str, branch: str, sha: str) -> bool:
        """Create ``refs/heads/<branch>``; False when it already exists (GitHub's 422)."""
        try:
            self._json(
                "POST",
                "/repos/{}/{}/git/refs",
                owner,
                repo,
                json={"ref": f"refs/heads/{branch}", "sha": sha},
            )
            return True
        except GitHubRefused as exc:
            if exc.status == 422 and "already exists" in exc.message:
                return False
            raise

    def update_ref(
        self, owner: str, repo: str, branch: str, sha: str, *, force: bool = False
    ) -> dict[str, Any]:
        """Move ``refs/heads/<branch>``; without ``force`` only a fast-forward is accepted."""
        result: dict[str, Any] = self._json(
            "PATCH",
            "/repos/{}/{}/git/refs/heads/{}",
            owner,
            repo,
            branch,
            json={"sha": sha, "force": force},
        )
        return result

    def download_tarball(self, owner: str, repo: str, sha: str) -> bytes:
        """The repository at ``sha`` as a .tar.gz (GitHub answers with a 302 to codeload)."""
        return self._call("GET", "/repos/{}/{}/tarball/{}", owner, repo, sha).content

    # -- pull requests, issues, reactions, checks -----------------------------------------

    def get_pull(self, owner: str, repo: str, number: int) -> dict[str, Any]:
        """One pull request (intake reads its base branch: ``["base"]["ref"]``)."""
        result: dict[str, Any] = self._json("GET", "/repos/{}/{}/pulls/{}", owner, repo, number)
        return result

    def list_pull_commits(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """The pull request's commits, oldest first (GitHub lists at most 250)."""
        return list(self._pages("/repos/{}/{}/pulls/{}/commits", owner, repo, number))

    def list_pull_files(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """The files the pull request changes (``filename``, ``previous_filename``)."""
        return list(self._pages("/repos/{}/{}/pulls/{}/files", owner, repo, number))

    def find_pulls_by_head(self, owner: str, repo: str, head: str) -> list[dict[str, Any]]:
        """Pull requests of ``owner:branch``, open or closed."""
        return list(
            self._pages("/repos/{}/{}/pulls", owner, repo, params={"head": head, "state": "all"})
        )

    def create_pull(
        self,
        owner: str,
        repo: str,
        *,
        title: str,
        head: str,
        base: str,
        body: str,
        draft: bool = False,
    ) -> dict[str, Any] | None:
        """Open a PR; None when GitHub says one already exists for the head (look it up again)."""
        try:
            result: dict[str, Any] = self._json(
                "POST",
                "/repos/{}/{}/pulls",
                owner,
                repo,
                json={"title": title, "head": head, "base": base, "body": body, "draft": draft},
            )
            return result
        except GitHubRefused as exc:
            if exc.status == 422 and "already exists" in exc.message:
                return None
            raise

    def add_labels(self, owner: str, repo: str, number: int, labels: list[str]) -> None:
        """Add labels to an issue or PR (GitHub creates missing ones; a label already on the
        issue stays once, so this is idempotent)."""
        self._call(
            "POST", "/repos/{}/{}/issues/{}/labels", owner, repo, number, json={"labels": labels}
        )

    def request_reviewers(
        self, owner: str, repo: str, number: int, users: list[str], teams: list[str]
    ) -> str | None:
        """Request reviews from ``users`` and team slugs ``teams`` (idempotent on GitHub).

        None when GitHub accepted; GitHub's message when it refused with 422 (a reviewer
        who is not a collaborator, or the PR's author): that refuses the whole request and
        is the caller's to report, not a failure of the PR it concerns.
        """
        try:
            self._call(
                "POST",
                "/repos/{}/{}/pulls/{}/requested_reviewers",
                owner,
                repo,
                number,
                json={"reviewers": users, "team_reviewers": teams},
            )
            return None
        except GitHubRefused as exc:
            if exc.status == 422:  # keep GitHub's sentence, not our "answered 422 to ..."
                return exc.message.partition("requested_reviewers: ")[2] or exc.message
            raise

    def list_issue_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        return list(self._pages("/repos/{}/{}/issues/{}/comments", owner, repo, number))

    def create_issue_comment(self, owner: str, repo: str, number: int, body: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "POST", "/repos/{}/{}/issues/{}/comments", owner, repo, number, json={"body": body}
        )
        return result

    def update_issue_comment(
        self, owner: str, repo: str, comment_id: int, body: str
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "PATCH", "/repos/{}/{}/issues/comments/{}", owner, repo, comment_id, json={"body": body}
        )
        return result

    def add_comment_reaction(self, owner: str, repo: str, comment_id: int, content: str) -> None:
        """GitHub answers 200 when the same reaction exists already, so this is idempotent."""
        self._call(
            "POST",
            "/repos/{}/{}/issues/comments/{}/reactions",
            owner,
            repo,
            comment_id,
            json={"content": content},
        )

    def list_check_runs(
        self, owner: str, repo: str, ref: str, *, name: str
    ) -> list[dict[str, Any]]:
        return list(
            self._pages(
                "/repos/{}/{}/commits/{}/check-runs",
                owner,
                repo,
                ref,
                params={"check_name": name, "filter": "all"},
            )
        )

    def create_check_run(self, owner: str, repo: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "POST", "/repos/{}/{}/check-runs", owner, repo, json=body
        )
        return result

    def update_check_run(
        self, owner: str, repo: str, check_run_id: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._json(
            "PATCH", "/repos/{}/{}/check-runs/{}", owner, repo, check_run_id, json=body
        )
        return result

    # -- the App's webhook deliveries (App JWT) --------------------------------------------

    def list_hook_deliveries(
        self, *, cursor: str | None = None, per_page: int = 100
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the App's webhook deliveries, newest first, and the next cursor."""
        params: dict[str, Any] = {"per_page": per_page}
        if cursor:
            params["cursor"] = cursor
        response = self._call("GET", "/app/hook/deliveries", params=params)
        items = response.json()
        next_url = response.links.get("next", {}).get("url")
        next_cursor = None
        if next_url:
            values = httpx.URL(next_url).params.get_list("cursor")
            next_cursor = values[0] if values else None
        return (items if isinstance(items, list) else []), next_cursor

    def redeliver_hook_delivery(self, hook_delivery_id: int) -> None:
        """Ask GitHub to send a delivery again (same ``X-GitHub-Delivery``); 202."""
        self._call("POST", "/app/hook/deliveries/{}/attempts", hook_delivery_id)

    def collaborator_permission(self, owner: str, repo: str, username: str) -> str:
        """``admin``, ``maintain``, ``write``, ``triage``, ``read`` or ``none``."""
        result = self._json_or_none(
            "GET", "/repos/{}/{}/collaborators/{}/permission", owner, repo, username
        )
        if result is None:
            return "none"
        # role_name distinguishes maintain/triage; permission folds them into write/read.
        # A custom role's role_name is its own name: then its base permission decides.
        role = str(result.get("role_name") or "")
        if Permission.parse(role) is not Permission.NONE:
            return role
        return str(result.get("permission") or "none")


class _JwtRefused(CredentialsRejected):
    """GitHub refused the App's JWT itself (wrong key or App id, or a clock it disputes)."""


class _ClockCorrected(CredentialsRejected):
    """A JWT refused by a clock we have just corrected: minting again will work."""


def _message_of(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        message = str(body.get("message", ""))
        errors = body.get("errors")
        if errors:
            details = "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )
            message = f"{message} ({details})"
        return message
    return str(body)[:200]
