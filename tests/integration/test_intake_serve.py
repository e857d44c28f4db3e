"""`farcaster serve` wiring: the app it serves, background workers started and stopped."""

import sys
import types
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.commands import serve as serve_module
from bot.core.settings import get_settings
from tests.integration.test_intake_support import TestClient

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("FARCASTER_DATABASE_URL", db_url)
    monkeypatch.setenv("FARCASTER_WEBHOOK_SECRET", "s3cret")
    monkeypatch.setenv("FARCASTER_GITHUB_APP_ID", "1")
    monkeypatch.setenv("FARCASTER_GITHUB_PRIVATE_KEY", "a PEM key (only its presence is checked)")
    monkeypatch.chdir(tmp_path)  # no stray .env file is read
    get_settings.cache_clear()
    app = typer.Typer()
    app.command()(serve_module.serve)
    yield app
    get_settings.cache_clear()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict:
    calls: dict = {}

    def fake_run(app, **kwargs):
        calls["app"] = app
        calls.update(kwargs)

    import uvicorn

    monkeypatch.setattr(uvicorn, "run", fake_run)
    return calls


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> dict:
    seen: dict = {"stopped": 0}
    module = types.ModuleType("bot.app.workers")

    def start_background_workers(runtime, count, *, triage=True):
        seen["count"] = count
        seen["runtime"] = runtime
        seen["triage"] = triage

        def stop():
            seen["stopped"] += 1

        return types.SimpleNamespace(stop=stop, wake=lambda: None)

    module.start_background_workers = start_background_workers  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "bot.app.workers", module)
    return seen


def test_serve_runs_uvicorn_on_the_webhook_app(cli, served, workers):
    result = CliRunner().invoke(cli, ["--host", "0.0.0.0", "--port", "9123"])
    assert result.exit_code == 0, result.output
    assert (served["host"], served["port"]) == ("0.0.0.0", 9123)
    with TestClient(served["app"]) as client:
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
        unsigned = client.post("/api/github/webhooks", content=b"{}")
        assert unsigned.status_code == 401
    assert "count" not in workers  # --workers 0: runners live elsewhere


def test_serve_with_workers_starts_them_and_stops_them_on_exit(cli, served, workers):
    result = CliRunner().invoke(cli, ["--workers", "3", "--log-format", "json"])
    assert result.exit_code == 0, result.output
    assert workers["count"] == 3
    assert workers["triage"] is False  # serve's triage thread decides, the loops send
    assert workers["stopped"] == 1


def test_serve_without_its_triage_thread_has_its_workers_triage(cli, served, workers):
    result = CliRunner().invoke(cli, ["--workers", "1", "--no-triage"])
    assert result.exit_code == 0, result.output
    assert workers["triage"] is True


def test_serve_stops_workers_even_when_the_server_fails(cli, monkeypatch, workers):
    import uvicorn

    def boom(app, **kwargs):
        raise OSError("address already in use")

    monkeypatch.setattr(uvicorn, "run", boom)
    result = CliRunner().invoke(cli, ["--workers", "1"])
    assert isinstance(result.exception, OSError)
    assert workers["stopped"] == 1


def test_serve_refuses_to_start_without_a_webhook_secret(cli, served, monkeypatch):
    monkeypatch.delenv("FARCASTER_WEBHOOK_SECRET")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, [])
    assert "FARCASTER_WEBHOOK_SECRET" in str(result.exception)
    assert "app" not in served


def test_an_unknown_log_format_is_refused(cli, served):
    result = CliRunner().invoke(cli, ["--log-format", "xml"])
    assert result.exit_code != 0
    assert "app" not in served
