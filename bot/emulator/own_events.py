"""Webhooks for the App's own actions, as GitHub sends them when asked to.

GitHub delivers an App the events it caused itself: its own comments
(``issue_comment.created``/``edited``, with ``sender`` its bot user and
``comment.performed_via_github_app`` set), its pull requests (``pull_request.opened``) and
its check runs (``check_run.created``, and ``completed`` when it completes one). A bot
must recognise and ignore them, or it answers itself. The emulator sends them only when
``POST /_emulator/settings {"deliver_own_events": true}`` is set (off by default, so
tests that count deliveries are not disturbed), in the background after the call
answers, like every event an API call causes (``dispatch.py``).

Callers hold the emulator lock; the payload is built at once (the state it describes is
the call's).
"""

from typing import Any

from bot.emulator import hooks
from bot.emulator.deps import RepoCall
from bot.emulator.dispatch import Dispatcher
from bot.emulator.state import CheckRun, Comment, Issue


def _send(call: RepoCall, dispatch: Dispatcher, event: str, payload: hooks.Payload) -> None:
    if call.em.deliver_own_events:
        dispatch.submit(hooks.prepare(call.em, call.repo, event, payload))


def comment(
    call: RepoCall,
    dispatch: Dispatcher,
    issue: Issue,
    record: Comment,
    action: str,
    changes: dict[str, Any] | None = None,
) -> None:
    if call.em.deliver_own_events:
        payload = hooks.issue_comment(call.em, call.urls, call.repo, issue, record, action, changes)
        _send(call, dispatch, "issue_comment", payload)


def pull_opened(call: RepoCall, dispatch: Dispatcher, issue: Issue) -> None:
    if call.em.deliver_own_events:
        bot = call.app.bot_login
        payload = hooks.pull_request(call.em, call.urls, call.repo, issue, "opened", bot)
        _send(call, dispatch, "pull_request", payload)


def check_run(call: RepoCall, dispatch: Dispatcher, run: CheckRun, action: str) -> None:
    if call.em.deliver_own_events:
        bot = call.app.bot_login
        payload = hooks.check_run(call.em, call.urls, call.repo, run, action, bot)
        _send(call, dispatch, "check_run", payload)
