"""A client of the emulator's admin API for tests and the demo, and a process launcher.

::

    proc, base_url = start_emulator_process(tmp_path / "emulator")
    gh = EmulatorControl(base_url)
    app = gh.create_app(app_id=1, public_key_pem=public_pem, webhook_url=..., webhook_secret=...)
    gh.create_installation(app_id=1, account="acme", installation_id=42)
    gh.create_repo("acme", "widgets", files={"src/app.py": "def old(): ..."})
    delivery = gh.comment("acme", "widgets", 1, "/farcaster rename old new", user="alice")
    assert delivery["delivery"]["status"] == 202
    assert gh.state()["repos"]["acme/widgets"]["pulls"]["total"] == 1

Every method raises ``EmulatorError`` (with the emulator's message) on a non-2xx answer.
"""

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

READY_PREFIX = "emulator listening on "


class EmulatorError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"emulator answered {status}: {message}")
        self.status = status
        self.body = body


class EmulatorControl:
    """Admin calls against a running emulator at ``base_url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, base_url: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url + "/_emulator", timeout=timeout)

    @property
    def api_url(self) -> str:
        """What the bot's ``FARCASTER_GITHUB_API_URL`` should be."""
        return self.base_url + "/api/v3"

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise EmulatorError(response.status_code, body)
        return body

    # -- setting the world up --------------------------------------------------------------

    def create_app(self, **fields: Any) -> dict[str, Any]:
        """Fields: app_id, name, slug, owner, public_key_pem (or private_key_pem, or neither
        to get a generated ``private_key_pem`` back), webhook_url, webhook_secret,
        permissions, events."""
        result: dict[str, Any] = self._call("POST", "/apps", json=fields)
        return result

    def update_app(self, app_id: int, **fields: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", f"/apps/{app_id}", json=fields)
        return result

    def create_installation(
        self,
        app_id: int,
        account: str,
        installation_id: int | None = None,
        *,
        deliver: bool = False,
    ) -> dict[str, Any]:
        """Install the App on ``account``; ``deliver`` sends it ``installation.created``."""
        body = {
            "app_id": app_id,
            "account": account,
            "installation_id": installation_id,
            "deliver": deliver,
        }
        result: dict[str, Any] = self._call("POST", "/installations", json=body)
        return result

    def uninstall(self, installation_id: int, *, user: str | None = None) -> dict[str, Any]:
        """Uninstall: ``installation.deleted`` is delivered, the tokens stop working."""
        params = {"user": user} if user else None
        result: dict[str, Any] = self._call(
            "DELETE", f"/installations/{installation_id}", params=params
        )
        return result

    def create_repo(
        self,
        owner: str,
        name: str,
        *,
        files: dict[str, Any] | None = None,
        folder: Path | str | None = None,
        default_branch: str = "main",
        private: bool = False,
        owner_type: str = "Organization",
        **extra: Any,
    ) -> dict[str, Any]:
        """A repository with one commit of ``files`` (path -> text) or ``folder``'s files.
        Answers ``{"repository", "head", "git_dir"}``."""
        body = {
            "owner": owner,
            "name": name,
            "files": files,
            "folder": str(folder) if folder is not None else None,
            "default_branch": default_branch,
            "private": private,
            "owner_type": owner_type,
            **extra,
        }
        result: dict[str, Any] = self._call("POST", "/repos", json=body)
        return result

    def push(
        self,
        owner: str,
        repo: str,
        branch: str,
        files: dict[str, Any],
        *,
        message: str | None = None,
        user: str | None = None,
        from_ref: str | None = None,
        force: bool = False,
    ) -> str:
        """A human's commit on ``branch`` (``None`` as content deletes); returns its SHA."""
        pushed = self.push_commit(
            owner, repo, branch, files, message=message, user=user, from_ref=from_ref, force=force
        )
        return str(pushed["sha"])

    def push_commit(
        self,
        owner: str,
        repo: str,
        branch: str,
        files: dict[str, Any],
        *,
        message: str | None = None,
        user: str | None = None,
        from_ref: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Like :meth:`push`, answering ``{"sha", "tree", "branch", "parent", "before",
        "delivery"}``: the ``push`` webhook's summary is in ``delivery``. With ``force``
        the commit goes on top of ``from_ref`` and the branch is forced onto it."""
        body = {
            "branch": branch,
            "files": files,
            "message": message,
            "user": user,
            "from": from_ref,
            "force": force,
        }
        result: dict[str, Any] = self._call("POST", f"/repos/{owner}/{repo}/commits", json=body)
        return result

    def delete_branch(
        self, owner: str, repo: str, branch: str, *, user: str | None = None
    ) -> dict[str, Any]:
        """A human deletes ``branch``: delivers ``push`` with ``deleted: true``."""
        params = {"user": user} if user else None
        result: dict[str, Any] = self._call(
            "DELETE", f"/repos/{owner}/{repo}/branches/{branch}", params=params
        )
        return result

    def files(self, owner: str, repo: str, ref: str | None = None) -> dict[str, Any]:
        """``{path: text}`` at ``ref`` (default branch if None)."""
        params = {"ref": ref} if ref else None
        result: dict[str, Any] = self._call("GET", f"/repos/{owner}/{repo}/files", params=params)[
            "files"
        ]
        return result

    def set_permission(self, owner: str, repo: str, user: str, permission: str) -> None:
        self._call(
            "PUT", f"/repos/{owner}/{repo}/collaborators/{user}", json={"permission": permission}
        )

    def register_manifest(self, manifest: dict[str, Any], owner: str | None = None) -> str:
        return str(
            self._call("POST", "/app-manifests", json={"manifest": manifest, "owner": owner})[
                "code"
            ]
        )

    # -- acting as humans ------------------------------------------------------------------

    def create_issue(
        self, owner: str, repo: str, title: str, body: str = "", user: str | None = None
    ) -> dict[str, Any]:
        payload = {"title": title, "body": body, "user": user}
        result: dict[str, Any] = self._call("POST", f"/repos/{owner}/{repo}/issues", json=payload)
        return result

    def create_pull(
        self,
        owner: str,
        repo: str,
        head: str,
        title: str,
        *,
        base: str | None = None,
        body: str = "",
        user: str | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """A human's pull request, delivering ``pull_request.opened``: the pull request's
        JSON plus ``delivery`` (the webhook's summary)."""
        payload = {
            "head": head,
            "base": base,
            "title": title,
            "body": body,
            "user": user,
            "deliver": deliver,
        }
        result: dict[str, Any] = self._call("POST", f"/repos/{owner}/{repo}/pulls", json=payload)
        return result

    def reopen_pull(
        self, owner: str, repo: str, number: int, *, user: str | None = None
    ) -> dict[str, Any]:
        """Reopen a closed pull request as ``user``: ``{"pull_request", "delivery"}``."""
        result: dict[str, Any] = self._call(
            "POST", f"/repos/{owner}/{repo}/pulls/{number}/reopen", json={"user": user}
        )
        return result

    def comment(
        self,
        owner: str,
        repo: str,
        number: int,
        body: str,
        *,
        user: str,
        author_association: str | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """Post as ``user`` and deliver ``issue_comment.created``: ``{"comment", "delivery":
        {"id", "status", "results": [...]}}``."""
        payload = {
            "body": body,
            "user": user,
            "author_association": author_association,
            "deliver": deliver,
        }
        result: dict[str, Any] = self._call(
            "POST", f"/repos/{owner}/{repo}/issues/{number}/comments", json=payload
        )
        return result

    def review_comment(
        self,
        owner: str,
        repo: str,
        number: int,
        body: str,
        *,
        user: str,
        path: str | None = None,
        line: int | None = None,
        side: str = "RIGHT",
        start_line: int | None = None,
        start_side: str | None = None,
        commit_id: str | None = None,
        in_reply_to: int | None = None,
        author_association: str | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        """An inline review comment by ``user`` on ``line`` of ``path`` (or a reply to the
        top-level comment ``in_reply_to``), delivering ``pull_request_review_comment``
        (created): ``{"comment", "delivery"}``. 422 when the line is not in the diff."""
        payload = {
            "body": body,
            "user": user,
            "path": path,
            "line": line,
            "side": side,
            "start_line": start_line,
            "start_side": start_side,
            "commit_id": commit_id,
            "in_reply_to": in_reply_to,
            "author_association": author_association,
            "deliver": deliver,
        }
        result: dict[str, Any] = self._call(
            "POST", f"/repos/{owner}/{repo}/pulls/{number}/review-comments", json=payload
        )
        return result

    def close_pull(
        self, owner: str, repo: str, number: int, *, user: str | None = None, merge: bool = False
    ) -> dict[str, Any]:
        """Close (``merge``: merge) as ``user``: ``{"pull_request", "delivery"
        (pull_request.closed), "push_delivery" (the merge's push, or None)}``."""
        result: dict[str, Any] = self._call(
            "POST",
            f"/repos/{owner}/{repo}/pulls/{number}/close",
            json={"user": user, "merge": merge},
        )
        return result

    def rerequest_check_run(
        self, owner: str, repo: str, check_run_id: int, *, user: str | None = None
    ) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST",
            f"/repos/{owner}/{repo}/check-runs/{check_run_id}/rerequest",
            json={"user": user},
        )
        return result

    def redeliver(self, delivery_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", f"/deliveries/{delivery_id}/redeliver")
        return result

    # -- observing and bending ---------------------------------------------------------------

    def deliveries(self, event: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "GET", "/deliveries", params={"event": event} if event else None
        )
        return result

    def delivery(self, delivery_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/deliveries/{delivery_id}")
        return result

    def hook_deliveries(
        self, *, app_id: int | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Every delivery attempt as ``GET /app/hook/deliveries`` lists it, newest first and
        unpaged (plus ``app_id``); ``status`` is ``"success"`` or ``"failure"``."""
        params = {k: v for k, v in (("app_id", app_id), ("status", status)) if v is not None}
        result: list[dict[str, Any]] = self._call("GET", "/hook-deliveries", params=params)
        return result

    def drain_deliveries(self, timeout: float = 10.0) -> None:
        """Wait until the webhooks sent in the background (pushes caused by API calls,
        redeliveries asked for through the API) have all been sent."""
        self._call("POST", "/deliveries/drain", json={"timeout": timeout})

    def issue_comments(self, owner: str, repo: str, number: int) -> list[dict[str, Any]]:
        """The issue's comments, each with ``history`` (``[{"at", "body"}]``: its first body
        and every edit that changed it, in order)."""
        result: list[dict[str, Any]] = self._call(
            "GET", f"/repos/{owner}/{repo}/issues/{number}/comments"
        )
        return result

    def comment_history(self, owner: str, repo: str, comment_id: int) -> list[dict[str, Any]]:
        """Every body the comment had, oldest first: ``[{"at", "body"}]``."""
        found = self._call("GET", f"/repos/{owner}/{repo}/issues/comments/{comment_id}")
        result: list[dict[str, Any]] = found["history"]
        return result

    def ref_log(self, owner: str, repo: str, ref: str | None = None) -> list[dict[str, Any]]:
        """Every ref created, moved or deleted (``ref``: one full ref name), oldest first:
        ``{"ref", "before", "after", "forced", "by", "via", "at"}``."""
        params = {"ref": ref} if ref else None
        result: list[dict[str, Any]] = self._call(
            "GET", f"/repos/{owner}/{repo}/ref-log", params=params
        )
        return result

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Filters: method, path (prefix), contains, status, since (sequence), limit."""
        params = {k: v for k, v in filters.items() if v is not None}
        result: list[dict[str, Any]] = self._call("GET", "/journal", params=params)["entries"]
        return result

    def journal_position(self) -> int:
        """The last sequence number: pass it as ``since`` to see only what follows."""
        return int(self._call("GET", "/journal", params={"limit": 0})["last_seq"])

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/state")
        return result

    def repo_state(self, owner: str, repo: str) -> dict[str, Any]:
        result: dict[str, Any] = self.state()["repos"][f"{owner}/{repo}"]
        return result

    def rate_limit(self, count: int = 1, *, retry_after: int = 60, kind: str = "secondary") -> None:
        self._call(
            "POST", "/rate-limit", json={"kind": kind, "count": count, "retry_after": retry_after}
        )

    def limit_content(
        self, per_minute: int | None = 80, per_hour: int | None = 500, *, enabled: bool = True
    ) -> dict[str, Any]:
        """Enforce GitHub's content-creation limits per installation (80 a minute and 500
        an hour by default): the next write over either answers 403 + ``retry-after``."""
        body = {"kind": "content", "per_minute": per_minute, "per_hour": per_hour}
        result: dict[str, Any] = self._call(
            "POST", "/rate-limit", json={**body, "enabled": enabled}
        )
        return result

    def outage(
        self, *, seconds: float | None = None, count: int | None = None, status: int = 502
    ) -> dict[str, Any]:
        """Make the API answer ``status`` (502) for ``seconds`` of real time or the next
        ``count`` requests, while webhooks still go out; ``outage(seconds=0)`` ends it."""
        body = {"seconds": seconds, "count": count, "status": status}
        result: dict[str, Any] = self._call("POST", "/outage", json=body)
        return result

    def revoke_tokens(self, installation_id: int | None = None) -> int:
        """Invalidate every installation token (or one installation's), as GitHub
        restarting would; returns how many were revoked."""
        body = {"installation_id": installation_id} if installation_id is not None else {}
        return int(self._call("POST", "/tokens/revoke", json=body)["revoked"])

    def set_clock(
        self, *, offset_seconds: float | None = None, advance_seconds: float | None = None
    ) -> dict[str, Any]:
        body = {"offset_seconds": offset_seconds, "advance_seconds": advance_seconds}
        result: dict[str, Any] = self._call("POST", "/clock", json=body)
        return result

    def sign_commits(self, enabled: bool = True) -> None:
        """Make the App's commits signed (a fresh SHA per call), as GitHub may."""
        self._call("POST", "/settings", json={"sign_commits": enabled})

    def deliver_own_events(self, enabled: bool = True) -> None:
        """Deliver the webhooks of the App's own comments, pull requests and check runs, as
        GitHub does (off by default): the bot must ignore what it caused itself."""
        self._call("POST", "/settings", json={"deliver_own_events": enabled})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "EmulatorControl":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def start_emulator_process(
    data_dir: Path,
    *,
    host: str = "127.0.0.1",
    token_lifetime: int | None = None,
    argv: list[str] | None = None,
    timeout: float = 20.0,
) -> tuple["subprocess.Popen[bytes]", str]:
    """Spawn ``farcaster emulator --port 0`` and return it with its base URL.

    ``argv`` replaces the command (default ``python -m bot.cli.main emulator``); the options are
    appended. stderr goes to ``data_dir/emulator.log``. The caller ends the process
    (``proc.terminate(); proc.wait()``).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    command = list(argv or [sys.executable, "-m", "bot.cli.main", "emulator"])
    command += ["--host", host, "--port", "0", "--data-dir", str(data_dir)]
    if token_lifetime is not None:
        command += ["--token-lifetime", str(token_lifetime)]
    with open(data_dir / "emulator.log", "ab") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                proc.kill()
                proc.wait()
                raise RuntimeError(f"the emulator did not start within {timeout} s: {command}")
            chunk = os.read(proc.stdout.fileno(), 1024)
            if not chunk:
                proc.wait()
                log_text = (data_dir / "emulator.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the emulator exited ({proc.returncode}): {log_text}")
            line += chunk
    text = line.decode().strip()
    if not text.startswith(READY_PREFIX):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"unexpected first line from the emulator: {text!r}")
    return proc, text.removeprefix(READY_PREFIX)
