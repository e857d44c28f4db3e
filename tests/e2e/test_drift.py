"""The base branch moves between proposal and apply."""

import pytest

from bot.core.faults import FAULT_EXIT_STATUS
from bot.core.records import Job, JobState
from bot.emulator.world import World
from tests.e2e.conftest import ENGINES, ONE_OF_EACH, effects_of

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def propose_then_push(box: World, files: dict[str, str]) -> tuple[Job, str]:
    """A job whose proposal is stored, then a human pushes ``files`` to main."""
    box.start_server(workers=0)
    doomed = box.start_worker("proposer", fault="after_proposal")
    box.comment(box.open_issue(), "/farcaster rename net_price price_without_tax")
    doomed.wait(timeout=60)
    assert doomed.returncode == FAULT_EXIT_STATUS, box.log("proposer")
    job = box.only_job()
    assert job.state is JobState.PROPOSED
    head = box.gh.push("acme", "inventory", "main", files, message="a human's change", user="carol")
    box.start_worker("applier")
    job = box.wait_for_state(job.id, JobState.DONE, JobState.TOMBSTONED, timeout=60)
    assert job.state is JobState.DONE, job.last_error
    box.wait_for_outbox()
    return job, head


def pr_parent(box: World, job: Job) -> str:
    client = box.github_client()
    head = client.branch_head("acme", "inventory", job.branch)
    return str(client.get_commit("acme", "inventory", head)["parents"][0]["sha"])


@pytest.mark.parametrize("box", ENGINES, indirect=True)
def test_drift_on_a_touched_file_reruns_on_the_new_head(box: World) -> None:
    pricing = box.gh.files("acme", "inventory")["inventory/pricing.py"]
    job, head = propose_then_push(box, {"inventory/pricing.py": pricing + "\n\nVAT = 0.2\n"})
    events = box.store.events(job.id)
    drift = [e for e in events if e.kind == "drift"]
    assert len(drift) == 1 and drift[0].data["files"] == ["inventory/pricing.py"]
    assert len(box.store.proposals(job.id)) == 2  # the agent ran again, on the new head
    assert job.base_sha == head and pr_parent(box, job) == head
    files = box.gh.files("acme", "inventory", ref=job.branch)
    assert "VAT = 0.2" in files["inventory/pricing.py"]  # the human's change is kept
    assert "def price_without_tax(" in files["inventory/pricing.py"]
    assert effects_of(box, job) == ONE_OF_EACH


def test_drift_on_an_untouched_file_is_applied_on_the_recorded_base(box: World) -> None:
    base = box.gh.repo_state("acme", "inventory")["branches"]["main"]
    job, _ = propose_then_push(box, {"NOTES.md": "unrelated\n"})
    assert [e.kind for e in box.store.events(job.id)].count("drift") == 0
    assert len(box.store.proposals(job.id)) == 1
    assert pr_parent(box, job) == base
    assert effects_of(box, job) == ONE_OF_EACH
