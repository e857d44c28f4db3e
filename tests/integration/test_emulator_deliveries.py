"""The emulator's App webhook deliveries API, as the bot's recovery loop reads it.

Every delivery attempt is recorded, failed ones too (the receiver answering 5xx, or not
listening at all), and listed through ``GET /app/hook/deliveries`` with an App JWT,
newest first, paginated by cursor; ``POST .../{id}/attempts`` redelivers the same bytes
under the same ``X-GitHub-Delivery``. githubkit's own models parse every answer.

A tiny HTTP server plays the App's webhook endpoint and records what arrives.
"""

import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from githubkit import AppAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy
from githubkit.exception import RequestFailed

from bot.emulator.control import EmulatorControl
from bot.emulator.serve import EmulatorThread
from tests.integration.emulator_support import Sink, running_sink

APP_ID = 61
OTHER_APP_ID = 62
INSTALLATION = 610
OWNER = "hooks-org"
SECRET = "deliveries-secret"
HTTP = httpx.Client()
WEBHOOK_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    with running_sink() as record:
        yield record


@dataclass
class World:
    control: EmulatorControl
    sink: Sink
    private_pem: str
    other_pem: str

    def jwt(self, pem: str | None = None, app_id: int = APP_ID) -> str:
        # The emulator's clock may have been moved: sign with its time, as a bot whose
        # clock agrees with GitHub's would.
        now = int(time.time() + self.control.state()["clock"]["offset_seconds"])
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(app_id)}
        return jwt.encode(claims, pem or self.private_pem, algorithm="RS256")

    def api(self, method: str, path: str, *, pem: str | None = None, **kwargs: Any) -> Any:
        app_id = OTHER_APP_ID if pem is not None else APP_ID
        headers = {"Authorization": f"Bearer {self.jwt(pem, app_id)}"}
        return HTTP.request(method, self.control.api_url + path, headers=headers, **kwargs)

    def githubkit(self) -> GitHub[Any]:
        return GitHub(
            AppAuthStrategy(str(APP_ID), self.private_pem),
            base_url=self.control.api_url + "/",
            cache_strategy=MemCacheStrategy(),
            http_cache=False,
            auto_retry=False,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sink: Sink) -> Iterator[World]:
    with EmulatorThread(
        tmp_path_factory.mktemp("emulator"), webhook_timeout_seconds=WEBHOOK_TIMEOUT
    ) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url, webhook_secret=SECRET)
        other = control.create_app(app_id=OTHER_APP_ID, webhook_url=sink.url, slug="other")
        control.create_installation(APP_ID, OWNER, INSTALLATION)
        yield World(control, sink, app["private_key_pem"], other["private_key_pem"])
        control.close()


@pytest.fixture
def repo(world: World, request: pytest.FixtureRequest) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60]
    world.control.create_repo(OWNER, name, files={"app.py": "x = 1\n"})
    world.control.set_clock(offset_seconds=0)
    world.control.drain_deliveries()
    world.sink.hits.clear()
    world.sink.status = 202
    return name


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/github/webhooks"


def comment(world: World, repo: str, number: int, body: str) -> dict[str, Any]:
    sent: dict[str, Any] = world.control.comment(OWNER, repo, number, body, user="alice")
    return sent["delivery"]


# -- recording -----------------------------------------------------------------------------


def test_every_attempt_is_listed_newest_first_with_githubs_status_words(
    world: World, repo: str
) -> None:
    issue = world.control.create_issue(OWNER, repo, "Deliveries")
    ok = comment(world, repo, issue["number"], "one")
    world.sink.status = 503
    refused_by_bot = comment(world, repo, issue["number"], "two")
    world.control.update_app(APP_ID, webhook_url=closed_port_url())
    try:
        started = time.monotonic()
        nobody_home = comment(world, repo, issue["number"], "three")
        elapsed = time.monotonic() - started
    finally:
        world.control.update_app(APP_ID, webhook_url=world.sink.url)
    assert nobody_home["status"] is None and elapsed < WEBHOOK_TIMEOUT  # refused, not hung

    listed = world.api("GET", "/app/hook/deliveries")
    assert listed.status_code == 200
    mine = [
        d for d in listed.json() if d["guid"] in {ok["id"], refused_by_bot["id"], nobody_home["id"]}
    ]
    assert [(d["guid"], d["status"], d["status_code"]) for d in mine] == [
        (nobody_home["id"], "failed to connect to host", 502),
        (refused_by_bot["id"], "Invalid HTTP Response: 503", 503),
        (ok["id"], "OK", 202),
    ]
    for entry in mine:
        assert (entry["event"], entry["action"]) == ("issue_comment", "created")
        assert entry["installation_id"] == INSTALLATION and entry["redelivery"] is False
        assert isinstance(entry["id"], int) and isinstance(entry["duration"], float)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["delivered_at"])
        assert entry["throttled_at"] is None
    detail = world.api("GET", f"/app/hook/deliveries/{mine[1]['id']}").json()
    assert detail["repository_id"] == detail["request"]["payload"]["repository"]["id"]
    assert [d["id"] for d in mine] == sorted((d["id"] for d in mine), reverse=True)


def test_githubkit_parses_the_list_and_the_detail(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Parsed")
    sent = comment(world, repo, issue["number"], "/farcaster status")
    gh = world.githubkit()
    items = gh.rest.apps.list_webhook_deliveries(per_page=5).parsed_data
    newest = items[0]
    assert (newest.guid, newest.status, newest.status_code) == (sent["id"], "OK", 202)
    full = gh.rest.apps.get_webhook_delivery(newest.id).parsed_data
    assert full.url == world.sink.url
    assert full.request.headers is not None and full.request.payload is not None
    headers = full.request.headers.model_dump()
    assert headers["X-GitHub-Delivery"] == sent["id"]
    assert headers["X-GitHub-Event"] == "issue_comment"
    assert headers["X-Hub-Signature-256"].startswith("sha256=")
    assert full.request.payload.model_dump()["comment"]["body"] == "/farcaster status"
    assert full.response.payload == '{"accepted": true}'
    assert full.response.headers is not None
    assert full.response.headers.model_dump()["content-type"] == "application/json"


def test_a_receiver_slower_than_the_timeout_is_a_timed_out_failure(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Slow")
    world.sink.delay = WEBHOOK_TIMEOUT + 0.5
    try:
        sent = comment(world, repo, issue["number"], "slowly")
    finally:
        world.sink.delay = 0.0
    assert sent["status"] is None and "Timeout" in sent["results"][0]["error"]
    [newest] = world.api("GET", "/app/hook/deliveries", params={"per_page": 1}).json()
    assert (newest["guid"], newest["status"], newest["status_code"]) == (
        sent["id"],
        "timed out",
        504,
    )
    assert newest["duration"] >= WEBHOOK_TIMEOUT
    failed = world.api("GET", "/app/hook/deliveries", params={"status": "failure"}).json()
    assert newest["id"] in {d["id"] for d in failed}


def test_detail_of_an_unreachable_attempt_has_no_response(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Down")
    world.control.update_app(APP_ID, webhook_url=closed_port_url())
    try:
        comment(world, repo, issue["number"], "anyone?")
    finally:
        world.control.update_app(APP_ID, webhook_url=world.sink.url)
    [newest] = world.api("GET", "/app/hook/deliveries", params={"per_page": 1}).json()
    detail = world.api("GET", f"/app/hook/deliveries/{newest['id']}").json()
    assert detail["status"] == "failed to connect to host"
    assert detail["response"] == {"headers": None, "payload": None}
    assert detail["request"]["payload"]["comment"]["body"] == "anyone?"


# -- paging and filtering ------------------------------------------------------------------


def test_pages_follow_the_link_header_cursor_without_gaps_or_repeats(
    world: World, repo: str
) -> None:
    issue = world.control.create_issue(OWNER, repo, "Many")
    guids = [comment(world, repo, issue["number"], f"c{n}")["id"] for n in range(5)]
    everything = world.control.hook_deliveries(app_id=APP_ID)

    first = world.api("GET", "/app/hook/deliveries", params={"per_page": 2})
    link = first.headers["link"]
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match is not None, link
    assert "cursor=v1_" in match[1] and "per_page=2" in match[1]
    assert match[1].startswith(world.control.api_url + "/app/hook/deliveries?")

    seen, url = [], world.control.api_url + "/app/hook/deliveries?per_page=2"
    while url:
        page = HTTP.get(url, headers={"Authorization": f"Bearer {world.jwt()}"})
        assert len(page.json()) <= 2
        seen += [d["id"] for d in page.json()]
        found = re.search(r'<([^>]+)>; rel="next"', page.headers.get("link", ""))
        url = found[1] if found else ""
    assert seen == [d["id"] for d in everything]
    assert len(set(seen)) == len(seen)
    assert [d["guid"] for d in first.json()] == guids[::-1][:2]

    gh = world.githubkit()
    paged = [d.id for d in gh.rest.paginate(gh.rest.apps.list_webhook_deliveries, per_page=3)]
    assert paged == seen


def test_per_page_is_clamped_to_100_and_bad_parameters_are_refused(world: World, repo: str) -> None:
    assert world.api("GET", "/app/hook/deliveries", params={"per_page": 500}).status_code == 200
    bad_cursor = world.api("GET", "/app/hook/deliveries", params={"cursor": "page-2"})
    assert bad_cursor.status_code == 400 and bad_cursor.json()["message"] == "Invalid cursor"
    bad_status = world.api("GET", "/app/hook/deliveries", params={"status": "broken"})
    assert bad_status.status_code == 422


def test_status_filter_splits_success_from_failure(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Filter")
    good = comment(world, repo, issue["number"], "fine")["id"]
    world.sink.status = 500
    bad = comment(world, repo, issue["number"], "broken")["id"]

    def guids(status: str) -> set[str]:
        answer = world.api(
            "GET", "/app/hook/deliveries", params={"status": status, "per_page": 100}
        )
        return {d["guid"] for d in answer.json()}

    assert good in guids("success") and bad not in guids("success")
    assert bad in guids("failure") and good not in guids("failure")
    failed = world.control.hook_deliveries(app_id=APP_ID, status="failure")
    assert bad in {d["guid"] for d in failed}


# -- redelivery ----------------------------------------------------------------------------


def test_redelivery_sends_the_same_bytes_under_the_same_guid_as_a_new_attempt(
    world: World, repo: str
) -> None:
    issue = world.control.create_issue(OWNER, repo, "Again")
    world.sink.status = 500
    failed = comment(world, repo, issue["number"], "/farcaster rename a b")
    world.sink.status = 202
    [first] = world.api("GET", "/app/hook/deliveries", params={"per_page": 1}).json()
    assert (first["guid"], first["status_code"]) == (failed["id"], 500)

    answer = world.api("POST", f"/app/hook/deliveries/{first['id']}/attempts")
    assert (answer.status_code, answer.json()) == (202, {})
    world.control.drain_deliveries()

    original, again = world.sink.hits
    assert again.body == original.body
    assert again.headers["x-github-delivery"] == original.headers["x-github-delivery"]
    assert again.headers["x-hub-signature-256"] == original.headers["x-hub-signature-256"]
    newest, older = world.api("GET", "/app/hook/deliveries", params={"per_page": 2}).json()
    assert older["id"] == first["id"]
    assert newest["id"] > first["id"] and newest["guid"] == first["guid"]
    assert (newest["redelivery"], newest["status"]) == (True, "OK")

    gh = world.githubkit()
    assert gh.rest.apps.redeliver_webhook_delivery(first["id"]).status_code == 202
    world.control.drain_deliveries()
    assert len(world.sink.hits) == 3


def test_redelivering_while_the_app_is_down_records_another_failure(
    world: World, repo: str
) -> None:
    issue = world.control.create_issue(OWNER, repo, "Still down")
    down = closed_port_url()
    world.control.update_app(APP_ID, webhook_url=down)
    try:
        comment(world, repo, issue["number"], "lost?")
        [first] = world.api("GET", "/app/hook/deliveries", params={"per_page": 1}).json()
        assert world.api("POST", f"/app/hook/deliveries/{first['id']}/attempts").status_code == 202
        world.control.drain_deliveries()
    finally:
        world.control.update_app(APP_ID, webhook_url=world.sink.url)
    newest, older = world.api("GET", "/app/hook/deliveries", params={"per_page": 2}).json()
    assert older["id"] == first["id"]
    assert (newest["guid"], newest["redelivery"], newest["status"]) == (
        first["guid"],
        True,
        "failed to connect to host",
    )
    # Back up: a redelivery goes where the App's webhook points now, and says so.
    assert world.api("POST", f"/app/hook/deliveries/{first['id']}/attempts").status_code == 202
    world.control.drain_deliveries()
    [latest] = world.api("GET", "/app/hook/deliveries", params={"per_page": 1}).json()
    assert latest["status"] == "OK"
    assert world.api("GET", f"/app/hook/deliveries/{latest['id']}").json()["url"] == world.sink.url
    assert world.api("GET", f"/app/hook/deliveries/{first['id']}").json()["url"] == down


def test_unknown_and_foreign_ids_answer_404(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Mine")
    comment(world, repo, issue["number"], "hello")
    [mine] = world.api("GET", "/app/hook/deliveries", params={"per_page": 1}).json()
    for method, suffix in (("GET", ""), ("POST", "/attempts")):
        unknown = world.api(method, f"/app/hook/deliveries/1{suffix}")
        assert (unknown.status_code, unknown.json()["message"]) == (404, "Not Found")
        foreign = world.api(
            method, f"/app/hook/deliveries/{mine['id']}{suffix}", pem=world.other_pem
        )
        assert foreign.status_code == 404
    assert world.api("GET", "/app/hook/deliveries", pem=world.other_pem).json() == []


def test_deliveries_older_than_three_days_are_gone_and_cannot_be_redelivered(
    world: World, repo: str
) -> None:
    issue = world.control.create_issue(OWNER, repo, "Old")
    comment(world, repo, issue["number"], "long ago")
    [old] = world.api("GET", "/app/hook/deliveries", params={"per_page": 1}).json()
    world.control.set_clock(advance_seconds=3 * 86400 + 60)
    try:
        listed = world.api("GET", "/app/hook/deliveries", params={"per_page": 100}).json()
        assert old["id"] not in {d["id"] for d in listed}
        assert world.api("GET", f"/app/hook/deliveries/{old['id']}").status_code == 404
        again = world.api("POST", f"/app/hook/deliveries/{old['id']}/attempts")
        assert again.status_code == 422 and "3 days" in again.json()["message"]
    finally:
        world.control.set_clock(offset_seconds=0)


def test_authentication_comes_before_parameters(world: World, repo: str) -> None:
    answer = HTTP.get(f"{world.control.api_url}/app/hook/deliveries", params={"status": "x"})
    assert answer.status_code == 401


def test_only_an_app_jwt_is_accepted(world: World, repo: str) -> None:
    settings_free_token = HTTP.post(
        f"{world.control.api_url}/app/installations/{INSTALLATION}/access_tokens",
        headers={"Authorization": f"Bearer {world.jwt()}"},
    ).json()["token"]
    for headers in ({}, {"Authorization": f"token {settings_free_token}"}):
        answer = HTTP.get(f"{world.control.api_url}/app/hook/deliveries", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["message"] == "A JSON web token could not be decoded"
    wrong_key = GitHub(
        AppAuthStrategy(str(APP_ID), world.other_pem),
        base_url=world.control.api_url + "/",
        cache_strategy=MemCacheStrategy(),
        http_cache=False,
        auto_retry=False,
    )
    with pytest.raises(RequestFailed) as refused:
        wrong_key.rest.apps.list_webhook_deliveries()
    assert refused.value.response.status_code == 401


def test_admin_listing_shows_every_apps_attempts(world: World, repo: str) -> None:
    issue = world.control.create_issue(OWNER, repo, "Admin view")
    sent = comment(world, repo, issue["number"], "x")
    [newest] = world.control.hook_deliveries(app_id=APP_ID)[:1]
    assert (newest["guid"], newest["app_id"], newest["status"]) == (sent["id"], APP_ID, "OK")
    stored = world.control.delivery(sent["id"])
    assert stored[0]["attempts"][0]["id"] == newest["id"]
    assert json.dumps(stored[0]["payload"])  # the admin view keeps the payload too


def test_the_hook_config_shows_the_url_and_masks_the_secret(world: World, repo: str) -> None:
    gh = world.githubkit()
    config = gh.rest.apps.get_webhook_config_for_app().parsed_data
    assert (config.url, config.secret, config.content_type) == (world.sink.url, "********", "json")
    moved = world.api("PATCH", "/app/hook/config", json={"url": closed_port_url()})
    try:
        assert moved.status_code == 200 and moved.json()["url"] != world.sink.url
        issue = world.control.create_issue(OWNER, repo, "Moved")
        assert comment(world, repo, issue["number"], "where?")["status"] is None
    finally:
        world.api("PATCH", "/app/hook/config", json={"url": world.sink.url})
    assert world.api("GET", "/app/hook/config").json()["url"] == world.sink.url
    refused = world.api("PATCH", "/app/hook/config", json={"url": 5})
    assert refused.status_code == 422
