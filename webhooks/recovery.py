"""Recovering deliveries GitHub failed to hand over (``serve`` down, a 503, a timeout).

GitHub never redelivers by itself. Its own advice, followed here: on a schedule, list the
App's webhook deliveries (``GET /app/hook/deliveries``, App JWT, newest first, paged by
cursor) back to the last point already read, group the attempts by ``guid`` (the
``X-GitHub-Delivery`` of every attempt of one delivery), and ask GitHub to redeliver
(``POST /app/hook/deliveries/{id}/attempts``) each delivery that

- has no attempt with status ``OK``,
- is not in the inbox (its guid is no stored delivery id), and
- was not asked for in the last ``RECENTLY_ASKED_SECONDS`` (its redelivery may be on its
  way), unless an attempt newer than the one asked about failed since (the redelivery came,
  and failed too).

Bounds: at most ``max_pages`` pages and ``max_redeliveries`` requests per sweep, and no new
call after ``budget_seconds``. The watermark (the newest delivery id read) is stored only
after a sweep that read back to the previous one and asked for everything it found; a sweep
cut short by its bounds or by GitHub keeps the old watermark, so the next one reads the same
span again (what it already recovered is in the inbox by then).

One process sweeps per interval: every process that runs triage (each ``serve``, each
``worker``) schedules the sweep, but a scheduled sweep first takes its turn in the store
(``Recoveries.take_turn``, bot/store/recoveries.py), which only one process gets per
``every_seconds``; the others skip it. The first sweep of a process runs regardless: a
process that starts may be the one that was down while deliveries failed.

Each request is recorded (bot/store/recoveries.py): ``redelivery_requested``, or
``redelivery_refused`` with GitHub's reason (e.g. a delivery older than GitHub's window: 3
days on github.com, 7 on GHES). The API URL setting points it at GHES like every call.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.app.runtime import Runtime
from bot.core.errors import GitHubError, GitHubRefused
from bot.github.client import GitHubClient
from bot.store.deliveries import Deliveries
from bot.store.recoveries import REDELIVERY_REFUSED, REDELIVERY_REQUESTED, Recoveries

log = logging.getLogger(__name__)

OK = "OK"
RECENTLY_ASKED_SECONDS = 120.0


@dataclass(frozen=True)
class Sweep:
    """What one sweep did."""

    pages: int
    listed: int
    requested: int
    refused: int
    complete: bool  # read back to the watermark and asked for everything it found


class Recovery:
    def __init__(
        self,
        client: Callable[[], GitHubClient],
        deliveries: Deliveries,
        recoveries: Recoveries,
        *,
        name: str,
        owner: str = "",
        every_seconds: float = 0.0,
        max_pages: int = 10,
        max_redeliveries: int = 100,
        budget_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.deliveries = deliveries
        self.recoveries = recoveries
        self.name = name
        self.owner = owner
        self.every_seconds = every_seconds
        self._swept = False
        self.max_pages = max_pages
        self.max_redeliveries = max_redeliveries
        self.budget_seconds = budget_seconds
        self._clock = clock

    def run(self) -> Sweep | None:
        """One sweep; None when it was another process's turn (see the module rules)."""
        first, self._swept = not self._swept, True
        turn = self.recoveries.take_turn(self.name, self.owner, every_seconds=self.every_seconds)
        if not (turn or first):
            return None
        deadline = self._clock() + self.budget_seconds
        client = self._client()
        watermark = self.recoveries.watermark(self.name)
        groups, newest, pages, listed, read_all = self._read(client, watermark, deadline)
        missing = self._missing(groups)
        requested = refused = 0
        asked_all = True
        for guid in missing:
            if requested + refused >= self.max_redeliveries or self._clock() > deadline:
                asked_all = False
                break
            latest = groups[guid][0]
            try:
                client.redeliver_hook_delivery(int(latest["id"]))
            except GitHubRefused as exc:
                refused += 1
                self._record(latest, REDELIVERY_REFUSED, exc.message)
                continue
            except GitHubError as exc:  # unavailable, rate limited: the next sweep goes on
                log.warning("recovery stopped: %s", exc.message)
                asked_all = False
                break
            requested += 1
            self._record(latest, REDELIVERY_REQUESTED, None)
        complete = read_all and asked_all
        if complete and newest is not None:
            self.recoveries.set_watermark(self.name, newest)
        sweep = Sweep(pages, listed, requested, refused, complete)
        if requested or refused or not complete:
            log.info("recovery sweep: %s", sweep)
        return sweep

    def _read(
        self, client: GitHubClient, watermark: int | None, deadline: float
    ) -> tuple[dict[str, list[dict[str, Any]]], int | None, int, int, bool]:
        """Attempts by guid (newest first), the newest id, pages, items, and whether the
        listing was read back to the watermark (or to its end)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        newest: int | None = None
        cursor: str | None = None
        pages = listed = 0
        while pages < self.max_pages and self._clock() <= deadline:
            items, cursor = client.list_hook_deliveries(cursor=cursor)
            pages += 1
            for item in items:
                hook_id = int(item["id"])
                if watermark is not None and hook_id <= watermark:
                    return groups, newest, pages, listed, True
                listed += 1
                newest = hook_id if newest is None else max(newest, hook_id)
                groups.setdefault(str(item["guid"]), []).append(item)
            if cursor is None:
                return groups, newest, pages, listed, True
        return groups, newest, pages, listed, False

    def _missing(self, groups: dict[str, list[dict[str, Any]]]) -> list[str]:
        failed = [
            guid
            for guid, attempts in groups.items()
            if not any(a.get("status") == OK for a in attempts)
        ]
        if not failed:
            return []
        known = self.deliveries.known(failed)
        asked = self.recoveries.asked_since(failed, seconds_ago=RECENTLY_ASKED_SECONDS)

        def on_its_way(guid: str) -> bool:
            newest_attempt = max(int(a["id"]) for a in groups[guid])
            return guid in asked and newest_attempt <= asked[guid]

        return [guid for guid in failed if guid not in known and not on_its_way(guid)]

    def _record(self, attempt: dict[str, Any], outcome: str, reason: str | None) -> None:
        self.recoveries.record(
            guid=str(attempt["guid"]),
            hook_delivery_id=int(attempt["id"]),
            event=str(attempt.get("event") or "")[:100],
            action=(str(attempt["action"])[:100] if attempt.get("action") else None),
            status=str(attempt.get("status") or "")[:200],
            outcome=outcome,
            reason=reason,
        )
        log.info(
            "delivery %s (%s): %s",
            attempt["guid"],
            attempt.get("event"),
            outcome.replace("_", " "),
            extra={"delivery_id": str(attempt["guid"])},
        )


def recovery_for(runtime: Runtime, owner: str) -> Recovery:
    settings = runtime.settings
    clients: list[GitHubClient] = []

    def client() -> GitHubClient:
        if not clients:
            clients.append(GitHubClient.for_app(settings))
        return clients[0]

    return Recovery(
        client,
        runtime.deliveries,
        Recoveries(runtime.db),
        name=f"app:{settings.require_app_id()}",
        owner=owner,
        every_seconds=settings.recovery_interval_seconds,
    )
