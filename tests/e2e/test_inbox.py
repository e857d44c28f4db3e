"""Intake never loses a command: GitHub's API down, `serve` down, the store locked.

Real processes on the emulator (bot/emulator/world.py). Each scenario ends by counting what
GitHub (the emulator) and the store hold: one job per command, and a PR per job where the
jobs run, nothing lost and nothing doubled.
"""

import sqlite3

import httpx
import pytest

from bot.core.records import JobState
from bot.emulator.world import World, wait_until
from bot.store.recoveries import Recoveries

pytestmark = pytest.mark.e2e


def send_commands(box: World, count: int) -> list[dict]:
    """``count`` rename commands on as many issues; the emulator's delivery results."""
    sent = []
    for n in range(count):
        number = box.open_issue(f"rename {n}")
        comment = box.comment(number, f"/farcaster rename net_price net_price_{n}", decided=False)
        sent.append(comment["delivery"])
    return sent


def commands_survive_an_api_outage(box: World, commands: int, seconds: float) -> None:
    box.settings_env["FARCASTER_WRITES_PER_MINUTE"] = "0"  # pacing is another test's subject
    box.start_server(workers=2)
    box.gh.outage(seconds=seconds)  # every API call answers 502; webhooks still go out

    sent = send_commands(box, commands)

    assert [d["status"] for d in sent] == [202] * commands  # accepted, no GitHub call needed
    waiting = box.deliveries.find(sent[0]["id"])
    assert waiting is not None and waiting.state == "undecided"
    wait_until(
        lambda: len(box.jobs()) == commands,
        timeout=seconds + 120,
        what=f"{commands} jobs after the outage",
    )
    for job in box.jobs():
        done = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=600)
        assert done.state is JobState.DONE, done.last_error
    state = box.state()
    assert state["pulls"]["total"] == commands
    assert sorted(state["pulls"]["by_head"].values()) == [1] * commands
    records = [box.deliveries.find(d["id"]) for d in sent]
    assert {(r.state, r.outcome) for r in records if r is not None} == {("decided", "job_created")}
    assert any(r is not None and r.attempts > 1 for r in records)  # they did wait for GitHub


def test_commands_sent_while_githubs_api_is_down_each_make_one_job_and_one_pr(box: World) -> None:
    commands_survive_an_api_outage(box, commands=20, seconds=20)


@pytest.mark.slow
# A hundred jobs after the outage take 3 minutes on an idle 2-core machine and more than the
# suite's 300 s default beside the rest of the suite; the promise is a hundred PRs, and the
# waits inside bound each step.
@pytest.mark.timeout(900)
def test_a_hundred_commands_during_a_minute_long_api_outage_make_a_hundred_prs(
    box: World,
) -> None:
    commands_survive_an_api_outage(box, commands=100, seconds=60)


def test_commands_sent_while_serve_is_down_are_recovered_through_githubs_delivery_list(
    box: World,
) -> None:
    box.start_server()
    box.stop_processes()  # serve is down: GitHub records failed deliveries

    sent = send_commands(box, 10)

    assert [d["status"] for d in sent] == [None] * 10
    assert len(box.gh.hook_deliveries(status="failure")) == 10
    box.start_server(env={"FARCASTER_RECOVERY_INTERVAL_SECONDS": "2"})
    wait_until(lambda: len(box.jobs()) == 10, timeout=60, what="recovery to create 10 jobs")
    for delivery in sent:
        box.wait_for_delivery(delivery["id"])
    recovered = Recoveries(box.store.db).recent()
    assert sorted(r.guid for r in recovered) == sorted(d["id"] for d in sent)
    assert {r.outcome for r in recovered} == {"redelivery_requested"}

    again = [box.gh.redeliver(d["id"])["status"] for d in sent]

    assert again == [202] * 10
    assert len(box.jobs()) == 10
    assert box.deliveries.count() == 10


def test_a_locked_store_answers_503_and_the_redelivery_is_accepted_later(box: World) -> None:
    box.start_server(env={"FARCASTER_INTAKE_BUSY_SECONDS": "0.5"})
    number = box.open_issue("locked")
    holder = sqlite3.connect(box.database_url.removeprefix("sqlite:///"), timeout=0)
    holder.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    try:
        refused = box.comment(number, "/farcaster rename net_price price_without_tax")
    finally:
        holder.rollback()
        holder.close()

    assert refused["delivery"]["status"] == 503
    assert box.jobs() == []
    assert "store_unavailable" in box.log("server")

    accepted = box.gh.redeliver(refused["delivery"]["id"])

    assert accepted["status"] == 202
    box.wait_for_delivery(refused["delivery"]["id"])
    assert box.only_job().state is JobState.QUEUED


def test_serve_on_a_read_only_sqlite_file_is_not_ready_and_says_why(box: World) -> None:
    # Opened read-only, as a file the process may not write is (root ignores file modes).
    path = box.database_url.removeprefix("sqlite:///")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    args = ["serve", "--host", "127.0.0.1", "--port", str(box.server_port)]
    box.server = box._spawn("server", args, box.env(FARCASTER_DATABASE_URL=read_only))
    url = f"http://127.0.0.1:{box.server_port}/readyz"

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code > 0
        except httpx.HTTPError:
            return False

    wait_until(answers, timeout=30, what="farcaster serve to answer /readyz")
    ready = httpx.get(url, timeout=5)
    assert ready.status_code == 503
    assert "refuses writes" in ready.json()["reason"]
    sent = box.comment(box.open_issue("read-only"), "/farcaster rename a b", decided=False)
    assert sent["delivery"]["status"] == 503
