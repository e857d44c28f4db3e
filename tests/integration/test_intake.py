"""Webhook intake through the real app, on SQLite and PostgreSQL, with GitHub mocked.

From a signed, real-shaped delivery to what the store holds afterwards: jobs, deliveries,
events and the outbox items that carry feedback back to GitHub.
"""

import time

import httpx

from bot.core.records import JobState
from tests.integration.test_intake_support import (
    DEVELOP_SHA,
    INSTALLATION,
    MASTER_SHA,
    REPO,
    comment_payload,
    drain,
    engine_independent,
)
from webhooks.keys import job_id_for_comment


def test_a_writers_rename_becomes_one_queued_job_with_its_base_sha_and_an_eyes_reaction(intake):
    payload = comment_payload("/farcaster rename a b", node_id="IC_kwDOA1", comment_id=77)
    response = intake.post(payload, delivery_id="d-1")

    assert response.status_code == 202
    job_id = job_id_for_comment("IC_kwDOA1")
    assert response.json() == {
        "delivery_id": "d-1",
        "outcome": "job_created",
        "reason": f"pr job rename on master@{MASTER_SHA[:12]}",
        "job_id": job_id,
        "duplicate": False,
    }
    job = intake.runtime.store.get(job_id)
    assert job.state is JobState.QUEUED
    assert job.idempotency_key == "comment:IC_kwDOA1"
    assert (job.base_ref, job.base_sha) == ("master", MASTER_SHA)
    assert job.command == {"name": "rename", "old": "a", "new": "b", "paths": [], "base": None}
    assert (job.agent, job.mode, job.requester) == ("rename", "pr", "writer")
    assert (job.repo, job.installation_id, job.issue_number) == (REPO, INSTALLATION, 1)
    assert not job.is_pull_request
    assert [e.kind for e in intake.runtime.store.events(job_id)] == ["created"]

    (delivery,) = intake.deliveries()
    assert delivery["delivery_id"] == "d-1"
    assert (delivery["event"], delivery["action"]) == ("issue_comment", "created")
    assert (delivery["outcome"], delivery["job_id"]) == ("job_created", job_id)
    assert (delivery["repo"], delivery["installation_id"]) == (REPO, INSTALLATION)
    assert len(delivery["payload_sha256"]) == 64

    # The 👀 reaction, and the status comment saying "queued", both in the job's transaction.
    assert sorted(item["kind"] for item in intake.outbox()) == ["reaction", "status_comment"]
    (status,) = intake.outbox("status_comment")
    assert status["job_id"] == job_id
    (reaction,) = intake.outbox("reaction")
    assert reaction["job_id"] == job_id
    assert reaction["payload"] == {
        "repo": REPO,
        "installation_id": INSTALLATION,
        "comment_id": 77,
        "content": "eyes",
    }
    assert intake.github.permission.call_count == 1
    assert intake.github.head.call_count == 1
    assert intake.github.pull.call_count == 0


def test_a_readers_command_is_politely_refused_and_starts_nothing(intake):
    response = intake.comment("/farcaster rename a b", user="reader")

    assert response.status_code == 202
    assert response.json()["outcome"] == "refused"
    assert response.json()["job_id"] is None
    assert intake.counts()["jobs"] == 0
    (reply,) = intake.outbox()
    assert reply["kind"] == "reply"
    assert "only people with write access" in reply["payload"]["body"]
    assert "'read'" in reply["payload"]["body"]
    assert reply["payload"]["marker"] in reply["payload"]["body"]
    assert reply["payload"]["issue_number"] == 1
    assert intake.github.head.call_count == 0


@engine_independent
def test_author_association_is_not_trusted(intake):
    # The payload says OWNER; GitHub's permission endpoint says the user is not a collaborator.
    intake.github.permissions["outsider"] = "none"
    response = intake.comment("/farcaster rename a b", user="outsider")
    assert response.json()["outcome"] == "refused"
    assert "'none'" in intake.outbox()[0]["payload"]["body"]


@engine_independent
def test_maintain_and_admin_may_start_jobs_triage_may_not(intake):
    intake.github.permissions.update(m="maintain", a="admin", t="triage")
    assert intake.comment("/farcaster rename a b", user="m").json()["outcome"] == "job_created"
    assert intake.comment("/farcaster rename a b", user="a").json()["outcome"] == "job_created"
    assert intake.comment("/farcaster rename a b", user="t").json()["outcome"] == "refused"


def test_a_redelivery_creates_nothing_new_and_answers_with_the_job(intake):
    payload = comment_payload("/farcaster rename a b")
    first = intake.post(payload, delivery_id="d-1").json()
    before, reads = intake.counts(), intake.github.reads

    again = intake.post(payload, delivery_id="d-1")

    assert again.status_code == 202
    assert again.json() == {**first, "duplicate": True}
    assert intake.counts() == before
    assert intake.github.reads == reads  # answered from the record, GitHub not asked


def test_another_delivery_about_the_same_comment_creates_nothing_new(intake):
    payload = comment_payload("/farcaster rename a b")
    first = intake.post(payload, delivery_id="d-1").json()

    second = intake.post(payload, delivery_id="d-2")

    assert second.status_code == 202
    assert second.json()["outcome"] == "job_exists"
    assert second.json()["job_id"] == first["job_id"]
    counts = intake.counts()
    assert (counts["jobs"], counts["outbox"], counts["deliveries"]) == (1, 2, 2)


def test_a_comment_on_a_pull_request_is_based_on_the_pull_requests_base_branch(intake):
    response = intake.comment("/farcaster rename a b", pull_request=True, issue_number=2)
    job = intake.runtime.store.get(response.json()["job_id"])
    assert (job.base_ref, job.base_sha) == ("develop", DEVELOP_SHA)
    assert job.is_pull_request
    assert job.issue_number == 2
    assert intake.github.pull.call_count == 1


@engine_independent
def test_base_option_overrides_the_default_branch_and_the_pull_requests_base(intake):
    intake.github.branches["release/1.x"] = "e" * 40
    response = intake.comment("/farcaster rename a b --base release/1.x", pull_request=True)
    job = intake.runtime.store.get(response.json()["job_id"])
    assert (job.base_ref, job.base_sha) == ("release/1.x", "e" * 40)
    assert job.command["base"] == "release/1.x"
    assert intake.github.pull.call_count == 0


@engine_independent
def test_a_base_branch_that_does_not_exist_gets_a_reply_and_no_job(intake):
    response = intake.comment("/farcaster rename a b --base nope")
    assert response.status_code == 202
    assert response.json()["outcome"] == "replied"
    assert intake.counts()["jobs"] == 0
    assert "`nope` does not exist" in intake.outbox("reply")[0]["payload"]["body"]


def test_plan_makes_a_plan_mode_job_of_the_inner_command(intake):
    response = intake.comment("/farcaster plan replace colour color --path 'docs/*.md'")
    job = intake.runtime.store.get(response.json()["job_id"])
    assert job.mode == "plan"
    assert job.agent == "replace"
    assert job.command == {
        "name": "replace",
        "pattern": "colour",
        "replacement": "color",
        "regex": False,
        "paths": ["docs/*.md"],
        "base": None,
    }


@engine_independent
def test_run_makes_a_job_for_the_named_agent(intake, tmp_path):
    agents = tmp_path / "agents.toml"
    agents.write_text('[agents.claude]\nargv = ["claude", "{instruction}"]\n')
    intake.runtime.settings.agents_file = agents
    response = intake.comment("@farcaster run claude don't break the API")
    job = intake.runtime.store.get(response.json()["job_id"])
    assert job.agent == "claude"
    assert job.command == {
        "name": "run",
        "agent": "claude",
        "instruction": "don't break the API",
        "base": None,
    }


@engine_independent
def test_run_with_an_agent_the_server_does_not_define_gets_a_reply_and_no_job(intake):
    response = intake.comment("/farcaster run claude do something")
    assert response.status_code == 202
    assert response.json()["outcome"] == "replied"
    assert intake.counts()["jobs"] == 0
    body = intake.outbox("reply")[0]["payload"]["body"]
    assert "no agent called `claude`" in body and "`rename`, `replace`" in body


@engine_independent
def test_help_is_answered_with_the_help_text_without_asking_github(intake):
    response = intake.comment("/farcaster help", user="reader")
    assert response.json()["outcome"] == "replied"
    (reply,) = intake.outbox()
    assert "/farcaster rename OLD NEW" in reply["payload"]["body"]
    assert intake.github.reads == 0
    assert intake.counts()["jobs"] == 0


@engine_independent
def test_an_unknown_command_gets_the_help_text_and_the_reason(intake):
    response = intake.comment("/farcaster frobnicate")
    assert response.json()["outcome"] == "replied"
    body = intake.outbox()[0]["payload"]["body"]
    assert "there is no command 'frobnicate'" in body
    assert "/farcaster rename OLD NEW" in body


@engine_independent
def test_bad_arguments_get_the_help_text(intake):
    intake.comment("/farcaster rename onlyone")
    assert "two names" in intake.outbox()[0]["payload"]["body"]
    assert intake.counts()["jobs"] == 0


def test_a_reply_to_the_same_comment_is_queued_once(intake):
    payload = comment_payload("/farcaster help")
    intake.post(payload, delivery_id="d-1")
    intake.post(payload, delivery_id="d-2")
    assert len(intake.outbox()) == 1


@engine_independent
def test_comments_by_bots_are_ignored_ours_included(intake):
    for user, kind in [("farcaster[bot]", "Bot"), ("dependabot[bot]", "Bot"), ("ci", "Bot")]:
        response = intake.comment("/farcaster rename a b", user=user, user_type=kind)
        assert response.status_code == 202
        assert response.json()["outcome"] == "ignored"
        assert response.json()["reason"] == "the comment was written by a bot"
    assert intake.counts()["jobs"] == 0
    assert intake.github.reads == 0


@engine_independent
def test_an_edited_comment_is_never_a_command(intake):
    response = intake.post(comment_payload("/farcaster rename a b", action="edited"))
    assert response.status_code == 202
    assert response.json()["outcome"] == "ignored"
    assert "edited" in response.json()["reason"]
    assert intake.counts()["jobs"] == 0


def test_a_comment_without_a_command_is_recorded_as_ignored(intake):
    response = intake.comment("Nice work!\n```\n/farcaster rename a b\n```")
    assert response.json()["outcome"] == "ignored"
    assert response.json()["reason"] == "the comment holds no command"
    assert intake.counts() == {"deliveries": 1, "jobs": 0, "job_events": 0, "outbox": 0}


@engine_independent
def test_ping_answers_200_and_is_recorded(intake):
    response = intake.post({"zen": "Keep it logically awesome.", "hook_id": 1}, event="ping")
    assert response.status_code == 200
    assert response.json()["outcome"] == "ping"
    assert intake.deliveries()[0]["event"] == "ping"


def test_unknown_events_and_actions_are_recorded_as_ignored_with_the_reason(intake):
    response = intake.post({"action": "starred", "repository": {"full_name": REPO}}, event="star")
    assert response.status_code == 202
    assert response.json()["reason"] == "Farcaster does not handle star.starred"
    response = intake.post(
        {"action": "opened", "repository": {"full_name": REPO}}, event="pull_request"
    )
    assert response.json()["reason"] == "Farcaster does not handle pull_request.opened"
    assert [d["outcome"] for d in intake.deliveries()] == ["ignored", "ignored"]
    assert intake.deliveries()[0]["repo"] == REPO


def test_github_unreachable_still_accepts_the_command_and_triage_creates_the_job_later(intake):
    intake.github.failure = httpx.Response(502, json={"message": "Bad Gateway"})
    payload = comment_payload("/farcaster rename a b")

    response = intake.post(payload, delivery_id="d-1")

    assert response.status_code == 202
    assert response.json()["state"] == "undecided"
    waiting = intake.runtime.deliveries.find("d-1")
    assert waiting is not None and waiting.attempts == 1
    assert waiting.last_error is not None
    assert waiting.last_error.startswith("github_unavailable: GitHub answered 502")
    assert waiting.run_after > waiting.received_at  # backing off, shown as scheduled
    assert intake.counts()["jobs"] == 0

    intake.github.failure = None
    assert drain(intake.triage, now=time.time() + 600) == 1
    decided = intake.runtime.deliveries.find("d-1")
    assert decided is not None
    assert (decided.state, decided.outcome) == ("decided", "job_created")
    assert intake.counts()["jobs"] == 1
    again = intake.post(payload, delivery_id="d-1")
    assert again.json()["duplicate"] is True
    assert intake.counts()["jobs"] == 1


@engine_independent
def test_a_network_error_reaching_github_puts_the_delivery_off_with_its_reason(intake):
    intake.github.permission.side_effect = httpx.ConnectError("connection refused")
    response = intake.comment("/farcaster rename a b")
    assert response.status_code == 202
    (delivery,) = intake.deliveries()
    assert delivery["state"] == "undecided"
    assert "could not be reached" in delivery["last_error"]


@engine_independent
def test_a_github_rate_limit_waits_as_long_as_github_asks_without_spending_an_attempt(intake):
    intake.github.failure = httpx.Response(
        403, headers={"retry-after": "30"}, json={"message": "secondary rate limit"}
    )
    response = intake.comment("/farcaster rename a b")
    assert response.status_code == 202
    (delivery,) = intake.deliveries()
    assert delivery["state"] == "undecided"
    assert delivery["attempts"] == 0
    assert delivery["run_after"] - delivery["received_at"] >= 29
    assert delivery["last_error"].startswith("rate_limited")


@engine_independent
def test_permission_answers_are_cached_briefly_per_repo_and_user(intake):
    intake.comment("/farcaster rename a b")
    intake.comment("/farcaster rename c d")
    assert intake.github.permission.call_count == 1
    intake.comment("/farcaster rename e f", user="reader")
    assert intake.github.permission.call_count == 2

    intake.clock.now += intake.runtime.settings.permission_cache_seconds + 1
    intake.comment("/farcaster rename g h")
    assert intake.github.permission.call_count == 3


@engine_independent
def test_a_lost_write_permission_is_noticed_once_the_cache_expires(intake):
    intake.comment("/farcaster rename a b")
    intake.github.permissions["writer"] = "read"
    assert intake.comment("/farcaster rename c d").json()["outcome"] == "job_created"
    intake.clock.now += intake.runtime.settings.permission_cache_seconds + 1
    assert intake.comment("/farcaster rename e f").json()["outcome"] == "refused"


@engine_independent
def test_a_delivery_without_an_installation_is_ignored(intake):
    payload = comment_payload("/farcaster rename a b")
    del payload["installation"]
    response = intake.post(payload)
    assert response.json()["outcome"] == "ignored"
    assert "installation" in response.json()["reason"]
