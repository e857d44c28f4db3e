"""`farcaster demo`: the whole path on SQLite and the local GitHub emulator, explained.

1. Start the emulator, `farcaster serve --workers 1` (a generated App key, SQLite).
2. A maintainer comments `/farcaster rename net_price price_without_tax` on an issue.
3. Print the job's event trail, the pull request and its diff.
4. A second command; its runner is killed mid-job (at the `after_pr` fault point, i.e. right
   after the PR was opened); a fresh runner reclaims the job when the lease runs out and
   finishes it. Print the retry in the trail and check there is still exactly one PR.

Exits 0 when all of that held, 1 with the reason when something did not.
"""

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from bot.core.records import Job, JobState
from bot.core.vocab import EventKind

if TYPE_CHECKING:  # the test world pulls in the emulator; `farcaster --help` need not
    from bot.emulator.world import World

# Wide enough for the trail even when the output is a pipe (rich assumes 80 columns then).
console = Console(width=max(110, shutil.get_terminal_size((110, 24)).columns))


class DemoFailed(Exception):
    pass


def check(condition: bool, reason: str) -> None:
    if not condition:
        raise DemoFailed(reason)


def trail_table(box: "World", job: Job) -> Table:
    from proposals.trail import trail_row

    table = Table(title=f"Event trail of job {job.id}", title_justify="left")
    for column in ("time", "attempt", "token", "step", "event", "what happened"):
        table.add_column(column)
    start = None
    for event in box.store.events(job.id):
        start = start if start is not None else event.at
        row = trail_row({"kind": event.kind, "data": event.data})
        table.add_row(
            f"+{event.at - start:.2f}s",
            str(event.attempt),
            str(event.fencing_token),
            escape(row.step),
            escape(row.outcome),
            escape(row.message),
        )
    return table


def pull_for(box: "World", job: Job) -> dict[str, Any]:
    client = box.github_client()
    pulls = client.find_pulls_by_head(box.owner, box.repo, f"{box.owner}:{job.branch}")
    check(len(pulls) == 1, f"expected one pull request for {job.branch}, found {len(pulls)}")
    return pulls[0]


def show_pull(box: "World", job: Job) -> None:
    pull = pull_for(box, job)
    console.print(
        Panel.fit(
            f"[bold]#{pull['number']} {escape(pull['title'])}[/bold]\n"
            f"branch  {escape(pull['head']['ref'])} → {escape(pull['base']['ref'])}\n"
            f"link    {escape(pull['html_url'])}",
            title="Pull request",
        )
    )
    proposal = box.store.latest_proposal(job.id)
    check(proposal is not None, "the job has no stored proposal")
    assert proposal is not None
    console.print(
        f"[bold]Diff[/bold] ({proposal.files_changed} files, "
        f"+{proposal.additions} -{proposal.deletions}):"
    )
    console.print(Syntax(proposal.diff, "diff", theme="ansi_dark", word_wrap=True))


def first_part(box: "World") -> Job:
    console.rule("1. A maintainer asks for a rename")
    box.start_server(workers=1)
    number = box.open_issue("Rename net_price: it hides what the price is")
    body = "/farcaster rename net_price price_without_tax"
    sent = box.comment(number, body)
    console.print(f"alice commented on issue #{number}: [cyan]{escape(body)}[/cyan]")
    console.print(f"webhook delivered, the bot answered HTTP {sent['delivery']['status']}")
    check(sent["delivery"]["status"] == 202, "the webhook was not accepted")
    job = box.only_job()
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=120)
    check(job.state is JobState.DONE, f"the job ended {job.state.value}: {job.last_error}")
    box.wait_for_outbox()
    console.print(trail_table(box, job))
    show_pull(box, job)
    return job


def second_part(box: "World") -> Job:
    console.rule("2. A runner dies in the middle of a job")
    box.stop_processes()
    box.start_server(workers=0)
    doomed = box.start_worker("runner-1", fault="after_pr")
    number = box.open_issue("Basket is too vague")
    body = "/farcaster rename Basket ShoppingBasket"
    box.comment(number, body)
    console.print(f"alice commented on issue #{number}: [cyan]{escape(body)}[/cyan]")
    job = next(j for j in box.jobs() if j.command.get("old") == "Basket")
    doomed.wait(timeout=120)
    console.print(
        f"runner-1 was killed right after opening the pull request (exit {doomed.returncode}); "
        f"the job is left [yellow]{box.store.get(job.id).state.value}[/yellow] with a lease "
        f"that nobody renews"
    )
    check(
        doomed.returncode == 137,
        f"runner-1 should have died at the fault point: {box.log('runner-1')}",
    )
    box.start_worker("runner-2")
    console.print(
        f"runner-2 starts; it may reclaim the job once the {box.lease_seconds:.0f} s lease runs out"
    )
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=120)
    check(job.state is JobState.DONE, f"the job ended {job.state.value}: {job.last_error}")
    box.wait_for_outbox()
    console.print(trail_table(box, job))
    kinds = [e.kind for e in box.store.events(job.id)]
    check(EventKind.LEASE_EXPIRED in kinds, "the trail does not show the expired lease")
    pull = pull_for(box, job)
    state = box.state()
    branch = state["farcaster_branches"].get(job.branch, {})
    check(
        branch.get("commits_not_on_default") == 1, f"expected one commit on {job.branch}: {branch}"
    )
    console.print(
        f"[green]Still exactly one pull request[/green] (#{pull['number']}) and one commit on "
        f"{job.branch}, after a runner died between two GitHub effects."
    )
    return job


def demo(
    keep: Annotated[
        Path | None, typer.Option(help="Keep everything (logs, database) in this folder.")
    ] = None,
) -> None:
    """Run the whole path on SQLite and the local GitHub emulator, and explain it."""
    from bot.emulator.world import World

    root = keep or Path(tempfile.mkdtemp(prefix="farcaster-demo-"))
    if keep is not None and root.exists():
        shutil.rmtree(root)
    box = World.start(root)
    if box.sandbox:
        console.print("Agents run sandboxed (bubblewrap): no network, only their checkout.")
    else:
        console.print(
            "[yellow]bwrap is not usable here: agents run WITHOUT a sandbox "
            "(FARCASTER_SANDBOX=off); production needs the bubblewrap package.[/yellow]"
        )
    try:
        first_part(box)
        second_part(box)
        console.rule("[green]The demo held[/green]")
    except (DemoFailed, TimeoutError) as exc:
        console.print(f"[red]demo failed:[/red] {escape(str(exc))}")
        for name in ("server", *box.workers):
            console.print(Panel(escape(box.log(name) or "(empty)"), title=f"{name}.log (tail)"))
        raise typer.Exit(1) from None
    finally:
        box.close()
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
