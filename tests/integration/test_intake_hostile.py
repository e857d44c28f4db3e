"""Hostile and broken deliveries: each gets a clear status, and the store is left unchanged.

Decision (documented in webhooks/intake.py and webhooks/payloads.py): valid JSON that lacks
a field GitHub always sends for a handled event is answered 400 and recorded nothing; it
cannot have come from GitHub, so there is nothing to keep.
"""

import asyncio
import hashlib
import hmac
import json

import pytest

from tests.integration.test_intake_support import (
    SECRET,
    comment_payload,
    engine_independent,
    headers_for,
)
from webhooks.intake import MAX_BODY_BYTES
from webhooks.signature import sign

EMPTY = {"deliveries": 0, "jobs": 0, "job_events": 0, "outbox": 0}

# Rejected before the store is consulted: one engine shows it (the others run on both).
before_the_store = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def body() -> bytes:
    return json.dumps(comment_payload("/farcaster rename a b")).encode()


def post_raw(intake, body: bytes, headers: dict[str, str]):
    return intake.client.post("/api/github/webhooks", content=body, headers=headers)


def assert_rejected(response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["error"] == error
    assert isinstance(payload["reason"], str)
    assert payload["reason"] and "\n" not in payload["reason"]


@before_the_store
def test_a_missing_signature_is_401_and_records_nothing(intake, body):
    headers = headers_for(body, "issue_comment")
    del headers["X-Hub-Signature-256"]
    assert_rejected(post_raw(intake, body, headers), 401, "bad_signature")
    assert intake.counts() == EMPTY
    assert intake.github.reads == 0


@before_the_store
def test_a_wrong_signature_is_401_and_records_nothing(intake, body):
    headers = headers_for(body, "issue_comment")
    headers["X-Hub-Signature-256"] = sign("not the secret", body)
    assert_rejected(post_raw(intake, body, headers), 401, "bad_signature")
    assert intake.counts() == EMPTY


@before_the_store
def test_a_valid_sha1_signature_alone_is_401(intake, body):
    headers = headers_for(body, "issue_comment")
    del headers["X-Hub-Signature-256"]
    headers["X-Hub-Signature"] = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
    assert_rejected(post_raw(intake, body, headers), 401, "bad_signature")
    headers["X-Hub-Signature-256"] = headers["X-Hub-Signature"]
    assert_rejected(post_raw(intake, body, headers), 401, "bad_signature")
    assert intake.counts() == EMPTY


@before_the_store
def test_a_truncated_body_fails_its_signature(intake, body):
    headers = headers_for(body, "issue_comment")
    assert_rejected(post_raw(intake, body[: len(body) // 2], headers), 401, "bad_signature")
    assert intake.counts() == EMPTY


@before_the_store
def test_a_truncated_body_signed_as_sent_is_malformed_json(intake, body):
    truncated = body[: len(body) // 2]
    response = post_raw(intake, truncated, headers_for(truncated, "issue_comment"))
    assert_rejected(response, 400, "bad_json")
    assert intake.counts() == EMPTY


@before_the_store
def test_bytes_that_are_not_utf8_are_malformed_json(intake):
    garbage = b'{"action": "\xff\xfe"}'
    assert_rejected(post_raw(intake, garbage, headers_for(garbage, "ping")), 400, "bad_json")


@before_the_store
def test_json_that_is_not_an_object_is_400(intake):
    for raw in (b"[]", b'"hello"', b"null", b"42"):
        assert_rejected(post_raw(intake, raw, headers_for(raw, "ping")), 400, "bad_json")
    assert intake.counts() == EMPTY


@before_the_store
def test_a_body_over_25_mb_is_413_without_being_read(intake):
    big = b"x" * (MAX_BODY_BYTES + 1)
    response = post_raw(intake, big, headers_for(b"irrelevant", "issue_comment"))
    assert_rejected(response, 413, "payload_too_large")
    assert intake.counts() == EMPTY


@before_the_store
def test_a_streamed_body_over_25_mb_without_content_length_is_413(intake):
    chunk = b"x" * (1024 * 1024)

    def chunks():
        for _ in range(26):
            yield chunk

    headers = headers_for(b"irrelevant", "issue_comment")
    response = intake.client.post("/api/github/webhooks", content=chunks(), headers=headers)
    assert_rejected(response, 413, "payload_too_large")
    assert intake.counts() == EMPTY


@before_the_store
def test_a_form_encoded_delivery_is_415_with_the_fix_in_the_reason(intake, body):
    form = b"payload=" + body
    headers = headers_for(form, "issue_comment")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    response = post_raw(intake, form, headers)
    assert_rejected(response, 415, "unsupported_media_type")
    assert "application/json" in response.json()["reason"]
    assert intake.counts() == EMPTY


def test_a_json_content_type_with_a_charset_is_fine(intake, body):
    headers = headers_for(body, "issue_comment")
    headers["Content-Type"] = "application/json; charset=utf-8"
    assert post_raw(intake, body, headers).status_code == 202


@before_the_store
@pytest.mark.parametrize("header", ["X-GitHub-Event", "X-GitHub-Delivery"])
def test_a_missing_github_header_is_400(intake, body, header):
    headers = headers_for(body, "issue_comment")
    del headers[header]
    assert_rejected(post_raw(intake, body, headers), 400, "bad_headers")
    assert intake.counts() == EMPTY


@before_the_store
def test_an_absurdly_long_delivery_id_is_400(intake, body):
    headers = headers_for(body, "issue_comment", delivery_id="d" * 101)
    assert_rejected(post_raw(intake, body, headers), 400, "bad_headers")


@pytest.mark.parametrize("missing", ["comment", "repository", "sender", "issue"])
def test_valid_json_missing_a_field_github_always_sends_is_400(intake, missing):
    payload = comment_payload("/farcaster rename a b")
    del payload[missing]
    response = intake.post(payload)
    assert_rejected(response, 400, "bad_payload")
    assert missing in response.json()["reason"]
    assert intake.counts() == EMPTY
    assert intake.github.reads == 0


def test_a_field_of_the_wrong_type_is_400(intake):
    payload = comment_payload("/farcaster rename a b")
    payload["comment"]["id"] = "not a number"
    response = intake.post(payload)
    assert_rejected(response, 400, "bad_payload")
    assert "comment.id" in response.json()["reason"]


def test_a_ten_thousand_line_comment_gets_a_clear_status_and_the_server_keeps_serving(intake):
    lines = "\n".join(
        f"/farcaster rename old_{n} new_{n} --path src/**/*.py" for n in range(10_000)
    )
    response = intake.comment(lines)
    assert_rejected(response, 400, "bad_payload")
    assert "github allows at most 65536" in response.json()["reason"].lower()
    assert intake.counts() == EMPTY

    after = intake.comment("/farcaster rename a b")
    assert after.status_code == 202
    assert after.json()["outcome"] == "job_created"


@before_the_store
def test_the_health_endpoint_answers_after_every_hostile_input(intake, body):
    post_raw(intake, b"{", headers_for(b"{", "issue_comment"))
    post_raw(intake, body, {"Content-Type": "application/json"})
    assert intake.client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("comment", "id"), "900005"),
        (("issue", "number"), True),
        (("comment", "user", "id"), None),
        (("installation", "id"), "1"),
    ],
)
def test_a_value_github_would_send_as_another_type_is_400_not_converted(intake, where, value):
    payload = comment_payload("/farcaster rename a b")
    target = payload
    for key in where[:-1]:
        target = target[key]
    if value is None:  # an extra field of any type is ignored, not refused
        target[where[-1]] = "anything"
        assert intake.post(payload).status_code == 202
        return
    target[where[-1]] = value
    response = intake.post(payload)
    assert_rejected(response, 400, "bad_payload")
    assert ".".join(where) in response.json()["reason"]
    assert intake.counts() == EMPTY


@pytest.mark.parametrize(
    "where",
    [("action",), ("sender", "login"), ("comment", "user", "login"), ("comment", "body")],
)
def test_a_control_character_in_any_field_read_is_400_on_both_engines(intake, where):
    payload = comment_payload("/farcaster rename a b")
    target = payload
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = target[where[-1]] + "\u0000x"
    response = intake.post(payload)
    assert_rejected(response, 400, "bad_payload")
    assert "control character" in response.json()["reason"]
    assert "\x00" not in response.text
    assert intake.counts() == EMPTY


def test_tabs_and_line_ends_in_a_comment_are_text(intake):
    response = intake.comment("Please:\r\n\t/farcaster rename a b\r\n")
    assert response.status_code == 202


def test_a_repository_name_that_is_not_owner_slash_name_is_400(intake):
    payload = comment_payload("/farcaster rename a b")
    payload["repository"]["full_name"] = "no-slash"
    assert_rejected(intake.post(payload), 400, "bad_payload")
    assert intake.counts() == EMPTY


@engine_independent
def test_a_sender_gone_before_its_body_arrived_gets_no_answer_and_nothing_is_stored(intake):
    body = json.dumps(comment_payload("/farcaster rename a b")).encode()
    headers = headers_for(body, "issue_comment", "d-gone")
    scope = _scope(headers)
    messages = [
        {"type": "http.request", "body": body[:100], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(intake.client.app(scope, receive, send))

    assert sent == []
    assert intake.counts()["deliveries"] == 0


def _scope(headers: dict[str, str], *, root_path: str = "") -> dict:
    """An ASGI scope of a webhook POST, as uvicorn builds it."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": root_path + "/api/github/webhooks",
        "raw_path": (root_path + "/api/github/webhooks").encode(),
        "query_string": b"",
        "root_path": root_path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


def _asgi_post(app, body: bytes, headers: dict[str, str], *, root_path: str = "") -> list[dict]:
    scope = _scope(headers, root_path=root_path)
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


@engine_independent
def test_a_delivery_skips_fastapis_middleware_and_the_rest_still_goes_through_it(intake):
    app = intake.client.app
    through_fastapi: list[str] = []
    inner = app.middleware_stack

    async def watched(scope, receive, send):
        through_fastapi.append(f"{scope['method']} {scope['path']}")
        await inner(scope, receive, send)

    app.middleware_stack = watched
    body = json.dumps(comment_payload("/farcaster rename a b")).encode()

    assert intake.send(body, delivery_id="d-1").status_code == 202
    assert through_fastapi == []
    assert intake.client.get("/api/github/webhooks").status_code == 405
    assert intake.client.get("/healthz").status_code == 200
    # Under a root_path FastAPI routes the delivery to the same endpoint.
    sent = _asgi_post(app, body, headers_for(body, "issue_comment", "d-2"), root_path="/gh")
    assert sent[0]["status"] == 202
    assert through_fastapi == [
        "GET /api/github/webhooks",
        "GET /healthz",
        "POST /gh/api/github/webhooks",
    ]
    assert intake.counts()["deliveries"] == 2
