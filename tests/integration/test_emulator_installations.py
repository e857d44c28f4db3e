"""Installing and uninstalling the App: ``installation.created``/``deleted`` shaped like
GitHub's, and an uninstalled installation's tokens stop working.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import jwt
import pytest

from bot.emulator.control import EmulatorControl, EmulatorError
from bot.emulator.serve import EmulatorThread
from tests.integration.emulator_support import Sink, missing_keys, running_sink, sample

APP_ID = 131
HTTP = httpx.Client()


@dataclass
class World:
    control: EmulatorControl
    sink: Sink
    private_pem: str

    def mint(self, installation: int) -> httpx.Response:
        now = int(time.time())
        claims = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
        signed = jwt.encode(claims, self.private_pem, algorithm="RS256")
        return HTTP.post(
            f"{self.control.api_url}/app/installations/{installation}/access_tokens",
            headers={"Authorization": f"Bearer {signed}"},
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with running_sink() as sink, EmulatorThread(tmp_path_factory.mktemp("emu")) as base_url:
        control = EmulatorControl(base_url)
        app = control.create_app(app_id=APP_ID, webhook_url=sink.url, events=["issue_comment"])
        yield World(control, sink, app["private_key_pem"])
        control.close()


def test_installing_delivers_installation_created_when_asked(world: World) -> None:
    world.control.create_repo("inst-org", "r", files={"a": "a\n"})
    quiet = world.control.create_installation(APP_ID, "inst-org", 1310)
    assert "delivery" not in quiet and world.sink.hits == []
    world.control.uninstall(1310)
    world.sink.hits.clear()

    made = world.control.create_installation(APP_ID, "inst-org", 1311, deliver=True)
    # Every App gets installation events, subscribed or not (this one asked for comments).
    assert made["delivery"]["event"] == "installation" and made["delivery"]["status"] == 202
    [hit] = world.sink.hits
    event = hit.json()
    template = sample("installation.created.json")
    template["installation"]["permissions"] = {}  # the example App's own; ours has others
    assert missing_keys(template, event) == []
    assert event["installation"]["permissions"] == {"metadata": "read"}
    assert (event["action"], event["installation"]["id"]) == ("created", 1311)
    assert [r["full_name"] for r in event["repositories"]] == ["inst-org/r"]
    assert event["sender"]["login"] == "inst-org"
    [listed] = world.control.hook_deliveries(app_id=APP_ID)[:1]
    assert (listed["event"], listed["installation_id"], listed["repository_id"]) == (
        "installation",
        1311,
        None,
    )


def test_uninstalling_delivers_deleted_and_ends_the_tokens(world: World) -> None:
    world.control.create_repo("gone-org", "r", files={"a": "a\n"})
    world.control.create_installation(APP_ID, "gone-org", 1320)
    token = world.mint(1320).json()["token"]
    headers = {"Authorization": f"token {token}"}
    assert HTTP.get(f"{world.control.api_url}/repos/gone-org/r", headers=headers).status_code == 200
    world.sink.hits.clear()

    gone = world.control.uninstall(1320, user="owner-person")
    assert gone["delivery"]["status"] == 202
    event = world.sink.hits[-1].json()
    assert (event["action"], event["sender"]["login"]) == ("deleted", "owner-person")
    refused = HTTP.get(f"{world.control.api_url}/repos/gone-org/r", headers=headers)
    assert (refused.status_code, refused.json()["message"]) == (401, "Bad credentials")
    assert world.mint(1320).status_code == 404
    issue = world.control.create_issue("gone-org", "r", "After")
    sent = world.control.comment("gone-org", "r", issue["number"], "hello?", user="x")
    assert sent["delivery"]["id"] is None
    with pytest.raises(EmulatorError) as again:
        world.control.uninstall(1320)
    assert again.value.status == 404
