"""`farcaster register` against the GitHub emulator: the whole manifest flow, then the saved
key really authenticates as the new App."""

import html
import re
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import typer
from githubkit import AppAuthStrategy, GitHub
from typer.testing import CliRunner

from bot.cli.commands import register as reg
from bot.core.settings import Settings

serve = pytest.importorskip("bot.emulator.serve")


def browser_that_confirms(done: threading.Event) -> Callable[[str], bool]:
    """Loads our page, submits its form to the emulator (which confirms at once and
    redirects), and follows the redirect back to our callback, like a real browser."""

    def visit(url: str) -> None:
        page = httpx.get(url).text
        action = re.search(r'action="([^"]*)"', page)
        manifest = re.search(r'name="manifest" value="([^"]*)"', page)
        assert action and manifest
        answer = httpx.post(
            html.unescape(action.group(1)),
            data={"manifest": html.unescape(manifest.group(1))},
            follow_redirects=True,
        )
        assert answer.status_code == 200 and "created" in answer.text
        done.set()

    def open_browser(url: str) -> bool:
        threading.Thread(target=visit, args=(url,), daemon=True).start()
        return True

    return open_browser


def test_register_against_the_emulator_saves_a_key_that_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = threading.Event()
    monkeypatch.setattr(reg, "open_browser", browser_that_confirms(done))
    app = typer.Typer()
    app.command()(reg.register)
    with serve.EmulatorThread(tmp_path / "emulator") as base:
        api = f"{base}/api/v3"
        result = CliRunner().invoke(
            app,
            [
                "--webhook-url", "http://127.0.0.1:9/api/github/webhooks",
                "--api-url", api,
                "--env-file", str(tmp_path / ".env"),
                "--port", "0",
                "--name", "Farcaster test",
                "--timeout", "10",
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output + result.stderr
        assert done.is_set()
        settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
        assert settings.github_api_url == api
        assert settings.webhook_secret is not None
        assert settings.webhook_secret.get_secret_value() not in result.output
        gh = GitHub(
            AppAuthStrategy(settings.require_app_id(), settings.private_key_pem()),
            base_url=f"{api}/",
            auto_retry=False,
        )
        me = gh.request("GET", "/app").json()
    assert me["id"] == settings.github_app_id
    assert me["slug"] == settings.github_app_slug
    assert me["name"] == "Farcaster test"
