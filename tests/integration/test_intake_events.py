"""Installation and pull request events, and the probes: /healthz, /readyz, /metrics."""

import copy
import warnings
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.core.records import JobState, Phase
from bot.core.vocab import EventKind
from tests.integration.test_intake_support import (
    INSTALLATION,
    REPO,
    Intake,
    engine_independent,
    runtime_for,
    sample,
)
from webhooks.app import create_app
from webhooks.handlers.installation import UNINSTALLED

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def new_job(intake: Intake, body: str = "/farcaster rename a b") -> str:
    return str(intake.comment(body).json()["job_id"])


def installation_event(action: str, installation_id: int = INSTALLATION) -> dict:
    payload = copy.deepcopy(sample("installation.created.json"))
    payload["action"] = action
    payload["installation"]["id"] = installation_id
    return payload


# -- installation ---------------------------------------------------------------------------


def test_installation_events_are_recorded(intake):
    response = intake.post(installation_event("created"), event="installation")
    assert response.status_code == 202
    assert response.json()["outcome"] == "recorded"
    added = {"action": "added", "installation": {"id": INSTALLATION}, "repositories_added": []}
    response = intake.post(added, event="installation_repositories")
    assert response.json()["outcome"] == "recorded"
    assert [d["event"] for d in intake.deliveries()] == [
        "installation",
        "installation_repositories",
    ]
    assert intake.deliveries()[0]["installation_id"] == INSTALLATION


def test_uninstalling_the_app_cancels_its_waiting_jobs_only(intake):
    waiting = new_job(intake, "/farcaster rename a b")
    running = new_job(intake, "/farcaster rename c d")
    store = intake.runtime.store
    # Both are claimed; the first is put back to wait (a rate limit), the second keeps running.
    tokens = {lease.job_id: lease.token for lease in store.claim("w", Phase.RUN, limit=2)}
    assert set(tokens) == {waiting, running}
    store.requeue(waiting, tokens[waiting], phase=Phase.RUN, reason=EventKind.RATE_LIMITED)

    response = intake.post(installation_event("deleted"), event="installation")

    assert response.json()["outcome"] == "recorded"
    assert "1 jobs cancelled" in response.json()["reason"]
    assert store.get(waiting).state is JobState.CANCELLED
    assert store.events(waiting)[-1].data["reason"] == UNINSTALLED
    assert store.get(running).state is JobState.RUNNING


@engine_independent
def test_uninstalling_another_installation_leaves_our_jobs_alone(intake):
    job_id = new_job(intake)
    intake.post(installation_event("deleted", installation_id=4242), event="installation")
    assert intake.runtime.store.get(job_id).state is JobState.QUEUED


# -- pull requests --------------------------------------------------------------------------


def closed_pull(job_id: str, *, merged: bool, ref: str | None = None) -> dict:
    payload = copy.deepcopy(sample("pull_request.closed.json"))
    payload["repository"]["full_name"] = REPO
    pull = payload["pull_request"]
    pull["merged"] = merged
    pull["head"]["ref"] = ref or f"farcaster/{job_id}"
    pull["head"]["repo"]["full_name"] = REPO
    pull["merged_by"] = {"login": "maintainer", "type": "User"} if merged else None
    return payload


def test_a_merged_pull_request_records_the_jobs_outcome(intake):
    job_id = new_job(intake)
    response = intake.post(closed_pull(job_id, merged=True), event="pull_request")
    assert response.json()["outcome"] == "recorded"
    assert response.json()["job_id"] == job_id
    assert intake.runtime.store.get(job_id).outcome == "merged"
    event = intake.runtime.store.events(job_id)[-1]
    assert (event.kind, event.data["by"]) == ("pr_merged", "maintainer")


def test_a_pull_request_closed_without_merging_is_closed_by_human(intake):
    job_id = new_job(intake)
    intake.post(closed_pull(job_id, merged=False), event="pull_request")
    assert intake.runtime.store.get(job_id).outcome == "closed_by_human"


@engine_independent
def test_other_branches_and_forks_are_ignored(intake):
    job_id = new_job(intake)
    response = intake.post(closed_pull(job_id, merged=True, ref="feature/x"), event="pull_request")
    assert response.json()["outcome"] == "ignored"
    fork = closed_pull(job_id, merged=True)
    fork["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    assert intake.post(fork, event="pull_request").json()["reason"] == "the branch lives in a fork"
    assert intake.runtime.store.get(job_id).outcome is None


# -- probes ---------------------------------------------------------------------------------


def test_healthz_and_readyz_on_a_migrated_database(intake):
    assert intake.client.get("/healthz").json() == {"status": "ok"}
    ready = intake.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_readyz_is_503_on_a_database_that_was_never_migrated(settings, tmp_path: Path):
    empty = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'empty.db'}"})
    runtime = runtime_for(empty)
    try:
        with TestClient(create_app(runtime)) as client:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert "farcaster db upgrade" in response.json()["reason"]
            assert client.get("/healthz").status_code == 200
    finally:
        runtime.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_readyz_is_503_without_a_database_and_hides_the_url(settings):
    url = "postgresql+psycopg://farcaster:hunter2@127.0.0.1:1/none?connect_timeout=1"
    runtime = runtime_for(settings.model_copy(update={"database_url": url}))
    try:
        with TestClient(create_app(runtime)) as client:
            response = client.get("/readyz")
        assert response.status_code == 503
        assert "cannot be reached" in response.json()["reason"]
        assert "hunter2" not in response.text
    finally:
        runtime.close()


def metric_samples(intake: Intake) -> dict[tuple[str, tuple], float]:
    text = intake.client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_deliveries_by_event_and_outcome_and_jobs_by_state(intake):
    new_job(intake)
    intake.comment("/farcaster rename a b", user="reader")
    intake.post(b"{", headers={"X-Hub-Signature-256": "sha256=00"})
    intake.post({"action": "x"}, event="made_up_event")

    samples = metric_samples(intake)

    deliveries = "farcaster_webhook_deliveries_total"
    assert samples[(deliveries, (("event", "issue_comment"), ("outcome", "accepted")))] == 2
    assert samples[(deliveries, (("event", "unverified"), ("outcome", "bad_signature")))] == 1
    assert samples[(deliveries, (("event", "other"), ("outcome", "ignored")))] == 1
    # What triage decided, counted in the database.
    decisions = "farcaster_delivery_decisions"
    assert samples[(decisions, (("outcome", "job_created"),))] == 1
    assert samples[(decisions, (("outcome", "refused"),))] == 1
    assert samples[(decisions, (("outcome", "ignored"),))] == 1
    assert samples[("farcaster_deliveries_undecided", ())] == 0
    assert samples[("farcaster_jobs", (("state", "queued"),))] == 1
    assert samples[("farcaster_jobs", (("state", "done"),))] == 0
    count = samples[("farcaster_webhook_intake_seconds_count", (("event", "issue_comment"),))]
    assert count == 2


def test_the_jobs_gauge_is_computed_at_scrape_time(intake):
    job_id = new_job(intake)
    assert metric_samples(intake)[("farcaster_jobs", (("state", "queued"),))] == 1
    intake.runtime.store.cancel(job_id, actor="test")
    samples = metric_samples(intake)
    assert samples[("farcaster_jobs", (("state", "queued"),))] == 0
    assert samples[("farcaster_jobs", (("state", "cancelled"),))] == 1


@engine_independent
def test_two_apps_in_one_process_keep_their_own_metrics(intake, settings):
    other = runtime_for(settings)
    try:
        create_app(other)  # a second registry: no "duplicated timeseries" error
    finally:
        other.close()
    new_job(intake)
    assert metric_samples(intake)[("farcaster_jobs", (("state", "queued"),))] == 1
