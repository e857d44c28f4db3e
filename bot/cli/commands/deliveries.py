"""`farcaster deliveries list|show`: the delivery inbox, as intake stored it and triage decided.

State, as shown: ``undecided`` (waiting for triage), ``scheduled`` (undecided and waiting out
a backoff or a rate limit: ``run_after`` is ahead, ``last_error`` says why), ``decided``
(``outcome`` says what it caused) or ``failed`` (a permanent failure, ``reason`` says why).
Recovered deliveries (asked of GitHub again by the recovery sweep) are listed by
``--recovered``. Output is a table for people; ``--json`` gives the same facts to scripts.
Exit codes: 0 done, 1 no such delivery, 2 configuration or database error.
"""

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.cli.commands.jobs import age, timestamp
from bot.core.errors import ConfigurationError, StoreError
from bot.core.settings import get_settings
from bot.store import Database, Store
from bot.store.deliveries import UNDECIDED, Deliveries, DeliveryRecord
from bot.store.outbox import Outbox
from bot.store.recoveries import Recoveries

app = typer.Typer(help="List and inspect webhook deliveries (the inbox).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
SCHEDULED = "scheduled"


def _fail(code: int, message: str) -> NoReturn:
    typer.echo(f"farcaster deliveries: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def _database() -> Iterator[Database]:
    db: Database | None = None
    try:
        db = Database.from_url(get_settings().database_url)
        yield db
    except (ConfigurationError, StoreError) as exc:
        _fail(2, exc.message)
    finally:
        if db is not None:
            db.dispose()


def _inbox(db: Database) -> Deliveries:
    return Deliveries(db, Store(db), Outbox(db))


def _now(db: Database) -> float:
    with db.read() as conn:
        return db.now(conn)


def shown_state(record: DeliveryRecord, now: float) -> str:
    """``scheduled`` for an undecided delivery waiting out a backoff; else its state."""
    if record.state == UNDECIDED and record.run_after > now:
        return SCHEDULED
    return record.state


def delivery_json(record: DeliveryRecord, now: float) -> dict[str, Any]:
    return {**asdict(record), "display_state": shown_state(record, now)}


def _console() -> Console:
    width = None if sys.stdout.isatty() else 250
    return Console(file=sys.stdout, width=width, soft_wrap=False)


@app.command("list")
def list_deliveries(
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only deliveries in this state: undecided, decided, failed."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    recovered: Annotated[
        bool, typer.Option("--recovered", help="List what the recovery sweep asked for.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The newest deliveries first: state, outcome, reason, attempts, job."""
    with _database() as db:
        if recovered:
            rows = [asdict(done) for done in Recoveries(db).recent(limit=limit)]
            if as_json:
                typer.echo(json.dumps(rows, indent=2, default=str))
                return
            table = Table("guid", "event", "GitHub's status", "outcome", "at")
            for row in rows:
                cells = [row["guid"], row["event"], row["status"], row["outcome"]]
                table.add_row(*(escape(str(c)) for c in cells), timestamp(row["at"]))
            _console().print(table)
            return
        records = _inbox(db).recent(limit=limit, state=state)
        now = _now(db)
    if as_json:
        typer.echo(json.dumps([delivery_json(r, now) for r in records], indent=2, default=str))
        return
    table = Table("delivery", "event", "state", "outcome", "attempts", "job", "age", "reason")
    for r in records:
        what = r.event + (f".{r.action}" if r.action else "")
        reason = r.reason or r.last_error or ""
        cells = [
            r.delivery_id,
            what,
            shown_state(r, now),
            r.outcome or "",
            str(r.attempts),
            r.job_id or "",
            age(now - r.received_at),
            reason[:80],
        ]
        table.add_row(*(escape(c) for c in cells))
    _console().print(table)


@app.command("show")
def show_delivery(
    delivery_id: Annotated[str, typer.Argument(help="The X-GitHub-Delivery id.")],
    as_json: JsonOpt = False,
) -> None:
    """Everything stored about one delivery (never its body)."""
    with _database() as db:
        record = _inbox(db).find(delivery_id)
        now = _now(db)
    if record is None:
        _fail(1, f"there is no delivery {delivery_id!r}")
    facts = delivery_json(record, now)
    if as_json:
        typer.echo(json.dumps(facts, indent=2, default=str))
        return
    for key in ("received_at", "run_after", "lease_expires_at", "decided_at"):
        if isinstance(facts.get(key), float):
            facts[key] = timestamp(facts[key])
    for key, value in facts.items():
        if value is not None:
            typer.echo(f"{key}: {value}")
