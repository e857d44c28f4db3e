"""Plain-text tables: every figure beside the named peer's, and their ratio (ours / peer)."""

from collections.abc import Collection, Sequence

from drain import Outcome
from pause import PauseOutcome

SHORT = {"pgqueuer": "ours/pgq", "procrastinate": "ours/proc"}
NOISE_COMMITS = 200  # more transactions than this elsewhere during a run: WAL is shared


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, left: Collection[int] = (0, 1)
) -> str:
    """Columns in ``left`` are text (left-aligned); the others are figures (right-aligned)."""
    widths = [max(len(c) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = (
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    rule = "-" * max(len(line(header)), *(len(line(r)) for r in rows))
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.2f}x" if peer else "-"


def drain_table(outcomes: Sequence[Outcome], peers: Sequence[str]) -> str:
    """One row per run, grouped by cell; ours rows carry their ratios to each peer."""
    header = ["cell", "system", "jobs", "jobs/s", "commits/job", "WAL B/job", "CPU us/job"]
    for peer in peers:
        short = SHORT.get(peer.split()[0], peer)
        header += [f"{short} jobs/s", f"{short} commits", f"{short} WAL"]
    rows = []
    for outcome in outcomes:
        row = [
            outcome.cell.label,
            outcome.system + (" (capped)" if outcome.capped else ""),
            f"{outcome.jobs:,}",
            f"{outcome.jobs_per_second:,.0f}",
            f"{outcome.commits_per_job:.2f}",
            f"{outcome.wal_per_job:,.0f}" + ("*" if outcome.noise_commits > NOISE_COMMITS else ""),
            f"{outcome.cpu_us_per_job:,.0f}",
        ]
        for peer in peers:
            other = next((o for o in outcomes if o.system == peer and o.cell == outcome.cell), None)
            if outcome.system.startswith("ours") and other is not None:
                row += [
                    ratio(outcome.jobs_per_second, other.jobs_per_second),
                    ratio(outcome.commits_per_job, other.commits_per_job),
                    ratio(outcome.wal_per_job, other.wal_per_job),
                ]
            else:
                row += ["", "", ""]
        rows.append(row)
    return table(header, rows)


def pause_table(outcomes: Sequence[PauseOutcome]) -> str:
    header = [
        "system",
        "held by A",
        "re-picked by B",
        "ran twice",
        "stale completions accepted",
        "B's completion lost",
        "jobs ended",
        "seconds",
        "what happened",
    ]
    rows = [
        [
            o.system,
            str(len(o.held)),
            str(len(o.repicked)),
            str(o.ran_twice),
            str(o.stale_accepted) + (f" ({o.refused} refused)" if o.refused else ""),
            str(o.new_holder_lost),
            f"{o.ended}/{o.jobs}",
            f"{o.seconds:.1f}",
            o.note,
        ]
        for o in outcomes
    ]
    return table(header, rows, left=(0, 8))


def sqlite_table(outcomes: Sequence[Outcome], postgres: Sequence[Outcome]) -> str:
    header = ["cell", "system", "jobs", "jobs/s", "CPU us/job", "vs the same on PostgreSQL"]
    rows = []
    for outcome in outcomes:
        same = next(
            (p for p in postgres if p.system == outcome.system and p.cell == outcome.cell), None
        )
        rows.append(
            [
                outcome.cell.label,
                outcome.system,
                f"{outcome.jobs:,}",
                f"{outcome.jobs_per_second:,.0f}",
                f"{outcome.cpu_us_per_job:,.0f}",
                ratio(outcome.jobs_per_second, same.jobs_per_second) if same else "-",
            ]
        )
    return table(header, rows)
