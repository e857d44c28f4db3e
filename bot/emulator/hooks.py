"""Webhook deliveries: GitHub-shaped payloads, signed and POSTed.

An event goes to every App installed on the repository's owner that has a webhook URL
(``installation`` events go to the installed App alone, subscribed or not). The
payload is the event's object plus ``repository``, ``sender``, ``installation`` (``id``,
``node_id``) and, for an organisation's repository, ``organization`` — the keys of the
octokit examples in tests/samples/webhooks. Headers: ``X-GitHub-Event``,
``X-GitHub-Delivery`` (a uuid, shared by every App receiving the same event),
``X-GitHub-Hook-ID``, ``X-GitHub-Hook-Installation-Target-Type/ID``, ``User-Agent:
GitHub-Hookshot/emulator``, ``Content-Type: application/json`` and, when the App has a
secret, ``X-Hub-Signature-256`` (HMAC-SHA256 of the exact body) and the legacy SHA-1
``X-Hub-Signature``.

An App whose ``events`` list is not empty receives only those events, as on GitHub; an
App registered without one (the admin default) receives every event.

Building happens under the emulator lock; sending never does, because the receiver may
call the emulator back before it answers. Admin routes send at once and report what the
App answered; events caused by API calls are sent by ``dispatch.py``'s thread. A
redelivery sends the stored bytes again with the same delivery id, as GitHub does. Every
attempt is recorded with a fresh numeric id, what the receiver answered (status, headers,
body) or why it could not be reached, and its duration: the log behind ``GET
/app/hook/deliveries``. Only a 2xx answer is a success; GitHub's words for the rest are
:func:`outcome`'s.
"""

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from bot.emulator import render, reviews
from bot.emulator.render import Urls
from bot.emulator.state import (
    App,
    Attempt,
    CheckRun,
    Comment,
    Delivery,
    Emulator,
    Installation,
    Issue,
    Repo,
    ReviewComment,
    node_id,
)

USER_AGENT = "GitHub-Hookshot/emulator"


def envelope(
    em: Emulator, urls: Urls, repo: Repo, installation: Installation, sender: str
) -> dict[str, Any]:
    body: dict[str, Any] = {"repository": render.repository(em, urls, repo)}
    if em.user(repo.owner).type == "Organization":
        body["organization"] = render.organization(em, urls, repo.owner)
    body["sender"] = render.user(em, urls, sender)
    body["installation"] = {
        "id": installation.id,
        "node_id": node_id("IntegrationInstallation", installation.id),
    }
    return body


Payload = Callable[[Installation], dict[str, Any]]


def issue_comment(
    em: Emulator,
    urls: Urls,
    repo: Repo,
    issue: Issue,
    comment: Comment,
    action: str,
    changes: dict[str, Any] | None = None,
) -> Payload:
    """``changes``: what an ``edited`` comment was (``{"body": {"from": old}}``)."""

    def build(installation: Installation) -> dict[str, Any]:
        return {
            "action": action,
            **({"changes": changes} if changes is not None else {}),
            "issue": render.issue(em, urls, repo, issue),
            "comment": render.comment(em, urls, repo, comment),
            **envelope(em, urls, repo, installation, comment.user),
        }

    return build


def pull_request(
    em: Emulator,
    urls: Urls,
    repo: Repo,
    issue: Issue,
    action: str,
    sender: str,
    extra: dict[str, Any] | None = None,
) -> Payload:
    """``extra``: the action's own keys (``synchronize`` has ``before`` and ``after``)."""
    pull = render.pull(em, urls, repo, issue)  # as it is now, not when a receiver asks

    def build(installation: Installation) -> dict[str, Any]:
        return {
            "action": action,
            "number": issue.number,
            **(extra or {}),
            "pull_request": pull,
            **envelope(em, urls, repo, installation, sender),
        }

    return build


def review_comment(
    em: Emulator, urls: Urls, repo: Repo, issue: Issue, comment: ReviewComment, action: str
) -> Payload:
    def build(installation: Installation) -> dict[str, Any]:
        return {
            "action": action,
            "comment": reviews.comment_json(em, urls, repo, comment),
            "pull_request": reviews.simple_pull(em, urls, repo, issue),
            **envelope(em, urls, repo, installation, comment.user),
        }

    return build


def check_run(
    em: Emulator, urls: Urls, repo: Repo, run: CheckRun, action: str, sender: str
) -> Payload:
    def build(installation: Installation) -> dict[str, Any]:
        return {
            "action": action,
            "check_run": render.check_run(em, urls, repo, run, full_suite=True),
            **envelope(em, urls, repo, installation, sender),
        }

    return build


def receives(app: App, event: str) -> bool:
    """Whether GitHub would send ``event`` to ``app``: it has a webhook URL and subscribed
    to the event (an App without an events list gets every event here)."""
    return bool(app.webhook_url) and (not app.events or event in app.events)


def listened(em: Emulator, repo: Repo, event: str) -> bool:
    """Whether any App installed on ``repo``'s owner receives ``event``."""
    return any(receives(em.apps[i.app_id], event) for i in em.installations_on(repo.owner))


def prepare(
    em: Emulator,
    repo: Repo,
    event: str,
    payload: Payload,
    *,
    only_app: int | None = None,
) -> list[Delivery]:
    """One stored delivery per receiving App, all under one delivery id (under the lock)."""
    guid = str(uuid.uuid4())
    deliveries = []
    for installation in em.installations_on(repo.owner):
        app = em.apps[installation.app_id]
        if not receives(app, event) or (only_app is not None and app.id != only_app):
            continue  # GitHub sends an App only the events it subscribed to
        data = payload(installation)
        body = json.dumps(data, separators=(",", ":")).encode()
        assert app.webhook_url is not None
        deliveries.append(
            Delivery(
                guid,
                event,
                data.get("action"),
                app.id,
                app.webhook_url,
                body,
                installation_id=installation.id,
                repository_id=repo.id,
            )
        )
    if deliveries:
        em.deliveries[guid] = deliveries
    return deliveries


def installation_event(
    em: Emulator, urls: Urls, installation: Installation, action: str, sender: str
) -> Delivery | None:
    """``installation`` (``created``/``deleted``) for the installed App, which every App gets
    without subscribing; None when the App has no webhook URL. Under the lock."""
    app = em.apps[installation.app_id]
    if not app.webhook_url:
        return None
    account = installation.account.lower()
    data = {
        "action": action,
        "installation": render.installation(em, urls, installation),
        "repositories": [
            {
                "id": repo.id,
                "node_id": node_id("Repository", repo.id),
                "name": repo.name,
                "full_name": repo.full_name,
                "private": repo.private,
            }
            for repo in em.repos.values()
            if repo.owner.lower() == account
        ],
        "requester": None,
        "sender": render.user(em, urls, sender),
    }
    body = json.dumps(data, separators=(",", ":")).encode()
    guid = str(uuid.uuid4())
    delivery = Delivery(
        guid, "installation", action, app.id, app.webhook_url, body, installation.id
    )
    em.deliveries[guid] = [delivery]
    return delivery


def headers(delivery: Delivery, app: App) -> dict[str, str]:
    result = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-GitHub-Event": delivery.event,
        "X-GitHub-Delivery": delivery.guid,
        "X-GitHub-Hook-ID": str(app.id),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": str(app.id),
    }
    if app.webhook_secret:
        key = app.webhook_secret.encode()
        result["X-Hub-Signature"] = "sha1=" + hmac.new(key, delivery.body, hashlib.sha1).hexdigest()
        result["X-Hub-Signature-256"] = (
            "sha256=" + hmac.new(key, delivery.body, hashlib.sha256).hexdigest()
        )
    return result


MAX_RESPONSE_CHARS = 4096


def send(em: Emulator, delivery: Delivery, *, redelivery: bool = False) -> Attempt:
    """POST one delivery (call WITHOUT the lock held) and record the attempt. Never raises
    for the receiver's sake: an unreachable or failing receiver is a failed attempt."""
    with em.lock:
        app = em.apps[delivery.app_id]
        request_headers = headers(delivery, app)
        url = app.webhook_url or delivery.url
        timeout = em.config.webhook_timeout_seconds
    status: int | None = None
    error: str | None = None
    timed_out = False
    response_headers: dict[str, str] = {}
    response_body: str | None = None
    started = time.monotonic()
    try:
        response = httpx.post(url, content=delivery.body, headers=request_headers, timeout=timeout)
        status = response.status_code
        response_headers = dict(response.headers)
        response_body = response.text[:MAX_RESPONSE_CHARS]
    except httpx.TimeoutException as exc:
        timed_out, error = True, f"{type(exc).__name__}: {exc}"
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = f"{type(exc).__name__}: {exc}"
    duration = round(time.monotonic() - started, 2)
    with em.lock:
        attempt = Attempt(
            id=em.next_id(),
            at=em.now(),
            status=status,
            error=error,
            redelivery=redelivery,
            duration=duration,
            url=url,
            timed_out=timed_out,
            request_headers=request_headers,
            response_headers=response_headers,
            response_body=response_body,
        )
        delivery.attempts.append(attempt)
        em.attempts[attempt.id] = (delivery, attempt)
    return attempt


def outcome(attempt: Attempt) -> tuple[str, int]:
    """GitHub's ``(status, status_code)`` for an attempt: ``"OK"`` for a 2xx answer,
    ``"Invalid HTTP Response: 503"`` for any other answer, ``"timed out"`` (504) when the
    receiver took longer than the webhook timeout, and ``"failed to connect to host"``
    (502, the code of GitHub's schema example) when nothing answered."""
    if attempt.status is None:
        return ("timed out", 504) if attempt.timed_out else ("failed to connect to host", 502)
    if 200 <= attempt.status < 300:
        return "OK", attempt.status
    return f"Invalid HTTP Response: {attempt.status}", attempt.status


def summary(deliveries: list[Delivery]) -> dict[str, Any]:
    """What an admin route answers after delivering: the id and what each receiver said."""
    results = [
        {
            "app_id": d.app_id,
            "url": d.url,
            "status": d.attempts[-1].status if d.attempts else None,
            "error": d.attempts[-1].error if d.attempts else None,
        }
        for d in deliveries
    ]
    first = deliveries[0] if deliveries else None
    return {
        "id": first.guid if first else None,
        "event": first.event if first else None,
        "action": first.action if first else None,
        "status": results[0]["status"] if results else None,
        "results": results,
    }


def describe(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.guid,
        "event": delivery.event,
        "action": delivery.action,
        "app_id": delivery.app_id,
        "url": delivery.url,
        "installation_id": delivery.installation_id,
        "repository_id": delivery.repository_id,
        "attempts": [
            {
                "id": a.id,
                "at": a.at.isoformat(),
                "status": a.status,
                "error": a.error,
                "redelivery": a.redelivery,
                "outcome": outcome(a)[0],
            }
            for a in delivery.attempts
        ],
    }
