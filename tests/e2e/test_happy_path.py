"""A maintainer's comment becomes one pull request, seen from GitHub's side."""

import pytest

from bot.core.records import JobState
from bot.emulator.world import World
from tests.e2e.conftest import ENGINES, ONE_OF_EACH, effects_of

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("box", ENGINES, indirect=True)
def test_a_rename_comment_becomes_one_pull_request(box: World) -> None:
    box.start_server(workers=1)
    number = box.open_issue()
    sent = box.comment(number, "/farcaster rename net_price price_without_tax")
    assert sent["delivery"]["status"] == 202

    job = box.wait_for_state(box.only_job().id, JobState.DONE, JobState.TOMBSTONED, timeout=90)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()

    # The eyes reaction on the command, from the bot.
    reactions = f"/api/v3/repos/acme/inventory/issues/comments/{sent['comment']['id']}/reactions"
    journal = box.gh.journal(method="POST", path=reactions)
    assert [e["status"] for e in journal] == [201]
    # The check run went through in_progress to success.
    check_posts = box.gh.journal(method="POST", path="/api/v3/repos/acme/inventory/check-runs")
    assert len(check_posts) == 1
    assert box.state()["check_runs"]["by_external_id"][job.id] == ["success"]
    assert effects_of(box, job) == ONE_OF_EACH

    # The PR holds the renamed code, call sites across modules included; a same-named
    # local variable elsewhere is left alone.
    files = box.gh.files("acme", "inventory", ref=job.branch)
    assert "def price_without_tax(gross):" in files["inventory/pricing.py"]
    assert "from inventory.pricing import Basket, price_without_tax" in files["inventory/report.py"]
    assert "pricing.price_without_tax(gross)" in files["inventory/audit.py"]
    assert "inventory.pricing.price_without_tax(basket.total())" in files["inventory/audit.py"]
    assert "net_price = total * (1 - discount)" in files["inventory/receipt.py"]
    comments = box.github_client().list_issue_comments("acme", "inventory", number)
    status = [c for c in comments if c["user"]["login"] == "farcaster[bot]"]
    assert len(status) == 1 and f"#{job.pr_number}" in status[0]["body"]
