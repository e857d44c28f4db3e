"""`farcaster register`: the manifest, the local page, the code exchange and the 0600 files."""

import html
import json
import re
import stat
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
import typer
from typer.testing import CliRunner

from bot.cli.commands import register as reg
from bot.core.errors import ConfigurationError, GitHubRefused, GitHubUnavailable
from bot.core.settings import Settings

API = "http://github.test/api/v3"
ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "6d2f0c1e9b8a7f6e5d4c3b2a19f8e7d6c5b4a392"
CLIENT_SECRET = "cs_0123456789abcdef0123456789abcdef01234567"


def conversion(pem: str) -> dict[str, Any]:
    return {
        "id": 424242,
        "slug": "farcaster-acme",
        "name": "Farcaster (acme)",
        "html_url": "http://github.test/apps/farcaster-acme",
        "client_id": "Iv1.0123456789abcdef",
        "client_secret": CLIENT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
        "pem": pem,
    }


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- the manifest ------------------------------------------------------------------------


def test_the_packaged_manifest_is_the_top_level_app_yml() -> None:
    assert (ROOT / "bot" / "app.yml").read_text() == (ROOT / "app.yml").read_text()


def test_the_manifest_gets_our_urls_and_keeps_its_permissions() -> None:
    base = reg.load_manifest(reg.manifest_text())
    manifest = reg.build_manifest(
        base,
        webhook_url="https://bot.acme.dev/api/github/webhooks",
        redirect_url="http://127.0.0.1:9/callback",
        name="Farcaster (acme)",
    )
    assert manifest["hook_attributes"] == {
        "url": "https://bot.acme.dev/api/github/webhooks",
        "active": True,
    }
    assert manifest["redirect_url"] == "http://127.0.0.1:9/callback"
    assert manifest["name"] == "Farcaster (acme)"
    assert manifest["default_permissions"]["contents"] == "write"
    assert manifest["default_events"] == [
        "issue_comment",
        "pull_request",
        "pull_request_review_comment",
        "push",
        "check_run",
    ]
    assert base["hook_attributes"]["url"] != manifest["hook_attributes"]["url"]  # a copy


@pytest.mark.parametrize("url", ["farcaster.acme.dev/hooks", "ftp://x/y", "", "https://"])
def test_a_webhook_url_github_cannot_call_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="--webhook-url"):
        reg.build_manifest({"url": "https://x"}, webhook_url=url, redirect_url="")


@pytest.mark.parametrize(
    ("api", "web"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://api.github.com/", "https://github.com"),
        ("https://ghe.acme.dev/api/v3", "https://ghe.acme.dev"),
        ("http://127.0.0.1:8123/api/v3/", "http://127.0.0.1:8123"),
        ("https://api.acme.ghe.com", "https://acme.ghe.com"),
    ],
)
def test_the_web_url_follows_from_the_api_url(api: str, web: str) -> None:
    assert reg.web_url_from_api(api) == web


def test_an_organization_gets_its_own_new_app_page() -> None:
    assert reg.new_app_url("https://github.com", None) == "https://github.com/settings/apps/new"
    assert (
        reg.new_app_url("https://github.com/", "acme corp")
        == "https://github.com/organizations/acme%20corp/settings/apps/new"
    )


def test_the_form_page_carries_the_manifest_escaped_and_the_state() -> None:
    manifest = {"name": "\"><script>alert('x')</script>", "url": "https://x"}
    page = reg.form_page(manifest, "https://github.com/settings/apps/new", "s-1")
    assert "<script>alert" not in page
    action, value = parse_form(page)
    assert action == "https://github.com/settings/apps/new?state=s-1"
    assert json.loads(value) == manifest


def parse_form(page: str) -> tuple[str, str]:
    action = re.search(r'action="([^"]*)"', page)
    value = re.search(r'name="manifest" value="([^"]*)"', page)
    assert action and value
    return html.unescape(action.group(1)), html.unescape(value.group(1))


# -- the local page and its callback -----------------------------------------------------


def test_the_local_page_posts_the_manifest_and_accepts_only_our_state() -> None:
    flow = reg.ManifestFlow({"url": "https://x"}, "https://github.test/settings/apps/new", port=0)
    try:
        page = httpx.get(flow.start()).text
        action, value = parse_form(page)
        state = action.split("?state=", 1)[1]
        assert json.loads(value)["redirect_url"] == flow.redirect_url
        forged = httpx.get(flow.redirect_url, params={"code": "evil", "state": "guess"})
        assert forged.status_code == 400
        good = httpx.get(flow.redirect_url, params={"code": "c0de", "state": state})
        assert good.status_code == 200 and "created" in good.text
        again = httpx.get(flow.redirect_url, params={"code": "other", "state": state})
        assert again.status_code == 200
        assert flow.wait(timeout=5) == "c0de"
    finally:
        flow.close()


def test_waiting_without_an_answer_ends_with_a_configuration_error() -> None:
    flow = reg.ManifestFlow({"url": "https://x"}, "https://github.test/x", port=0)
    try:
        flow.start()
        with pytest.raises(ConfigurationError, match="did not send the App back"):
            flow.wait(timeout=0.01)
    finally:
        flow.close()


# -- the exchange ------------------------------------------------------------------------


@respx.mock(assert_all_called=True)
def test_the_code_is_exchanged_once_without_authentication(
    respx_mock: respx.MockRouter, rsa_private_key_pem: str
) -> None:
    route = respx_mock.post(f"{API}/app-manifests/c0de/conversions").respond(
        201, json=conversion(rsa_private_key_pem)
    )
    creds = reg.exchange_manifest_code(API + "/", "c0de")
    assert route.call_count == 1
    request = route.calls.last.request
    assert "authorization" not in request.headers
    assert request.headers["accept"] == "application/vnd.github+json"
    assert (creds.id, creds.slug) == (424242, "farcaster-acme")
    assert creds.webhook_secret == WEBHOOK_SECRET
    assert creds.pem == rsa_private_key_pem
    for secret in (WEBHOOK_SECRET, CLIENT_SECRET, "PRIVATE KEY"):
        assert secret not in repr(creds)


@respx.mock
def test_a_code_cannot_reach_another_path(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(f"{API}/app-manifests/..%2F..%2Fuser/conversions").respond(404)
    with pytest.raises(GitHubRefused):
        reg.exchange_manifest_code(API, "../../user")
    assert route.call_count == 1


@respx.mock
def test_an_expired_code_says_to_start_again(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/app-manifests/old/conversions").respond(
        404, json={"message": "Not Found"}
    )
    with pytest.raises(GitHubRefused, match="works once and for an hour"):
        reg.exchange_manifest_code(API, "old")


@respx.mock
def test_github_down_is_unavailable_not_refused(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(f"{API}/app-manifests/a/conversions").respond(502)
    respx_mock.post(f"{API}/app-manifests/b/conversions").mock(
        side_effect=httpx.ConnectError("refused")
    )
    with pytest.raises(GitHubUnavailable):
        reg.exchange_manifest_code(API, "a")
    with pytest.raises(GitHubUnavailable):
        reg.exchange_manifest_code(API, "b")


# -- the files ---------------------------------------------------------------------------


def creds(pem: str) -> reg.AppCredentials:
    body = conversion(pem)
    return reg.AppCredentials(
        id=body["id"],
        slug=body["slug"],
        name=body["name"],
        html_url=body["html_url"],
        pem=pem,
        webhook_secret=WEBHOOK_SECRET,
    )


def test_write_env_writes_both_files_readable_by_the_owner_only(
    tmp_path: Path, rsa_private_key_pem: str
) -> None:
    env, pem = tmp_path / ".env", tmp_path / "keys" / "app.pem"
    reg.write_env(env, creds(rsa_private_key_pem), pem)
    assert mode(env) == 0o600 and mode(pem) == 0o600
    assert pem.read_text() == rsa_private_key_pem
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.github_app_id == 424242
    assert settings.github_app_slug == "farcaster-acme"
    assert settings.github_private_key_path == pem.resolve()
    assert settings.private_key_pem() == rsa_private_key_pem
    assert settings.require_webhook_secret() == WEBHOOK_SECRET
    assert "PRIVATE KEY" not in env.read_text()
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".env", "app.pem", "keys"]


def test_write_env_keeps_other_settings_and_replaces_old_app_values(
    tmp_path: Path, rsa_private_key_pem: str
) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "FARCASTER_DATABASE_URL=postgresql://db/farcaster\n"
        "FARCASTER_GITHUB_APP_ID=1\n"
        "export FARCASTER_WEBHOOK_SECRET=old-secret\n"
        'FARCASTER_GITHUB_PRIVATE_KEY="-----BEGIN RSA PRIVATE KEY-----\n'
        "MIIEoldoldold\n"
        '-----END RSA PRIVATE KEY-----"\n'
        "FARCASTER_COMMAND_PREFIX=/fc\n"
    )
    env.chmod(0o644)
    reg.write_env(
        env,
        creds(rsa_private_key_pem),
        tmp_path / "my key.pem",
        extra={"FARCASTER_GITHUB_API_URL": API},
    )
    text = env.read_text()
    assert mode(env) == 0o600
    assert "old-secret" not in text and "MIIEold" not in text and "APP_ID=1\n" not in text
    assert "FARCASTER_DATABASE_URL=postgresql://db/farcaster\n" in text
    assert "FARCASTER_COMMAND_PREFIX=/fc\n" in text
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.github_private_key is None
    assert settings.github_private_key_path == (tmp_path / "my key.pem").resolve()
    assert settings.github_api_url == API and settings.command_prefix == "/fc"
    assert settings.private_key_pem() == rsa_private_key_pem


# -- the command -------------------------------------------------------------------------


def scripted_browser(github: str, code: str) -> Any:
    """A browser that loads the local page, 'confirms' on GitHub, follows the redirect."""
    done = threading.Event()

    def visit(url: str) -> None:
        page = httpx.get(url).text
        action, value = parse_form(page)
        assert action.startswith(f"{github}/settings/apps/new?state=")
        manifest = json.loads(value)
        assert manifest["hook_attributes"]["url"] == "https://bot.acme.dev/hooks"
        state = action.split("?state=", 1)[1]
        httpx.get(manifest["redirect_url"], params={"code": code, "state": state})
        done.set()

    def open_browser(url: str) -> bool:
        threading.Thread(target=visit, args=(url,), daemon=True).start()
        return True

    open_browser.done = done  # type: ignore[attr-defined]
    return open_browser


def command() -> typer.Typer:
    app = typer.Typer()
    app.command()(reg.register)
    return app


def test_register_creates_the_app_and_prints_no_secret(
    tmp_path: Path, rsa_private_key_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = scripted_browser("http://github.test", "c0de")
    monkeypatch.setattr(reg, "open_browser", browser)
    with respx.mock(assert_all_called=True) as mock:
        mock.route(host="127.0.0.1").pass_through()
        route = mock.post(f"{API}/app-manifests/c0de/conversions").respond(
            201, json=conversion(rsa_private_key_pem)
        )
        result = CliRunner().invoke(
            command(),
            [
                "--webhook-url", "https://bot.acme.dev/hooks",
                "--api-url", API,
                "--env-file", str(tmp_path / ".env"),
                "--port", "0",
                "--timeout", "10",
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert route.call_count == 1 and browser.done.is_set()
    assert "Created the GitHub App 'Farcaster (acme)' (id 424242)" in result.output
    assert "installations/new" in result.output
    for secret in (WEBHOOK_SECRET, CLIENT_SECRET, "PRIVATE KEY", "c0de"):
        assert secret not in result.output
    assert mode(tmp_path / ".env") == 0o600 and mode(tmp_path / "farcaster.pem") == 0o600
    settings = Settings(_env_file=tmp_path / ".env")  # type: ignore[call-arg]
    assert settings.github_app_id == 424242 and settings.github_api_url == API


def test_register_refuses_to_overwrite_a_key_before_opening_github(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "farcaster.pem").write_text("the key of another App")
    monkeypatch.setattr(reg, "open_browser", lambda url: pytest.fail("opened GitHub"))
    result = CliRunner().invoke(
        command(),
        ["--webhook-url", "https://x.dev/h", "--env-file", str(tmp_path / ".env"), "--port", "0"],
    )
    assert result.exit_code == 2
    assert "farcaster.pem exists" in result.stderr
    assert (tmp_path / "farcaster.pem").read_text() == "the key of another App"


def test_register_without_a_browser_prints_the_local_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reg, "open_browser", lambda url: pytest.fail("opened a browser"))
    result = CliRunner().invoke(
        command(),
        [
            "--webhook-url", "https://x.dev/h",
            "--env-file", str(tmp_path / ".env"),
            "--port", "0",
            "--no-browser",
            "--timeout", "0.01",
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert re.search(r"Open http://127\.0\.0\.1:\d+/ in a browser", result.output)
    assert "did not send the App back" in result.stderr
    assert not (tmp_path / ".env").exists()
