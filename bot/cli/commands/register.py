"""`farcaster register`: create the GitHub App from ``app.yml`` through GitHub's manifest flow.

The flow (docs: "Registering a GitHub App from a manifest"):

1. A page on ``127.0.0.1`` posts the manifest (``app.yml`` with your webhook URL and our
   redirect URL filled in) to ``{github}/settings/apps/new``, with a random ``state``.
2. You confirm on GitHub; GitHub redirects the browser to our page with ``?code=&state=``.
   A code whose state is not ours is refused (another site cannot feed us its App).
3. We exchange the code at ``POST {api}/app-manifests/{code}/conversions`` (no
   authentication; the code works once, for an hour) for the App's id, slug, private key
   and webhook secret.
4. We write the private key to a file and the settings to ``.env``, both mode 0600, and print
   neither secret.

The key exists only in GitHub's one answer, so everything that could stop us from saving
it (an existing key file, a directory we cannot write) is checked before the browser opens.

This module talks to GitHub with httpx directly: the conversion is the one call made
before any App credentials exist, so :class:`~bot.github.client.GitHubClient` (installation
auth) cannot make it. httpx errors are translated into :mod:`bot.core.errors` here.
"""

import contextlib
import copy
import html
import json
import os
import re
import secrets
import threading
import webbrowser
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import typer
import yaml

from bot.core.errors import ConfigurationError, GitHubError, GitHubRefused, GitHubUnavailable

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_PORT = 8976  # the redirect_url in app.yml
SETTINGS_WRITTEN = (
    "FARCASTER_GITHUB_APP_ID",
    "FARCASTER_GITHUB_APP_SLUG",
    "FARCASTER_GITHUB_PRIVATE_KEY_PATH",
    "FARCASTER_WEBHOOK_SECRET",
)
# Removed from .env when we write: a leftover inline key would win over the new key file.
SETTINGS_REPLACED = (*SETTINGS_WRITTEN, "FARCASTER_GITHUB_PRIVATE_KEY")

# Tests replace this with a scripted browser.
open_browser: Callable[[str], Any] = webbrowser.open


@dataclass(frozen=True)
class AppCredentials:
    """GitHub's answer to the conversion. ``repr`` leaves the secrets out."""

    id: int
    slug: str
    name: str
    html_url: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    client_id: str = ""
    client_secret: str = field(default="", repr=False)


# -- the manifest (pure) -----------------------------------------------------------------


def manifest_text(path: Path | None = None) -> str:
    """``path``, else ``app.yml`` at the top of a source checkout, else the copy packaged
    in ``bot/`` (kept identical by a test) for an installed package."""
    if path is not None:
        try:
            return path.read_text()
        except OSError as exc:
            raise ConfigurationError(f"The manifest {path} cannot be read: {exc}") from None
    checkout = Path(__file__).resolve().parents[3] / "app.yml"
    if checkout.is_file():
        return checkout.read_text()
    packaged = resources.files("bot").joinpath("app.yml")
    if packaged.is_file():
        return packaged.read_text()
    raise ConfigurationError("app.yml was not found; pass --manifest PATH.")


def load_manifest(text: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"The manifest is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError("The manifest must be a YAML mapping.")
    return data


def build_manifest(
    base: Mapping[str, Any], *, webhook_url: str, redirect_url: str, name: str | None = None
) -> dict[str, Any]:
    """``base`` with our URLs (and optionally another name: App names are unique on GitHub)."""
    parts = urlsplit(webhook_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"--webhook-url must be an http(s) URL GitHub can reach, not {webhook_url!r}."
        )
    manifest = copy.deepcopy(dict(base))
    hook = dict(manifest.get("hook_attributes") or {})
    hook["url"] = webhook_url
    hook.setdefault("active", True)
    manifest["hook_attributes"] = hook
    manifest["redirect_url"] = redirect_url
    if name:
        manifest["name"] = name
    if not isinstance(manifest.get("url"), str):
        raise ConfigurationError("The manifest needs a `url` (the App's homepage).")
    return manifest


def web_url_from_api(api_url: str) -> str:
    """GitHub's web address for its API address: api.github.com -> github.com,
    ``https://HOST/api/v3`` (GitHub Enterprise Server, the emulator) -> ``https://HOST``."""
    url = api_url.rstrip("/")
    if url.endswith("/api/v3"):
        return url.removesuffix("/api/v3")
    parts = urlsplit(url)
    if parts.hostname and parts.hostname.startswith("api."):
        return f"{parts.scheme}://{parts.netloc.removeprefix('api.')}"
    return url


def new_app_url(web_url: str, org: str | None) -> str:
    base = web_url.rstrip("/")
    if org:
        return f"{base}/organizations/{quote(org, safe='')}/settings/apps/new"
    return f"{base}/settings/apps/new"


def form_page(manifest: Mapping[str, Any], action: str, state: str) -> str:
    """The page that posts the manifest to GitHub by itself (a button if scripts are off)."""
    target = html.escape(f"{action}?state={quote(state, safe='')}", quote=True)
    value = html.escape(json.dumps(manifest), quote=True)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Register the Farcaster GitHub App</title></head>
<body>
<form id="manifest" method="post" action="{target}">
<input type="hidden" name="manifest" value="{value}">
<p>Sending the Farcaster App manifest to GitHub&hellip;</p>
<button type="submit">Continue on GitHub</button>
</form>
<script>document.getElementById("manifest").submit();</script>
</body></html>
"""


# -- the local page and its callback -----------------------------------------------------


class ManifestFlow:
    """A one-shot web server on 127.0.0.1: ``/`` sends the manifest, ``/callback`` gets the code.

    Binding happens in the constructor, so the redirect URL (with the real port, when
    ``port=0``) is known before the manifest is sent.
    """

    def __init__(
        self, manifest: Mapping[str, Any], action: str, *, port: int = DEFAULT_PORT
    ) -> None:
        self.state = secrets.token_urlsafe(24)
        self._code: str | None = None
        self._received = threading.Event()
        try:
            self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot listen on 127.0.0.1:{port} ({exc.strerror}); pass --port."
            ) from None
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/"
        self.redirect_url = f"http://127.0.0.1:{self.port}/callback"
        self.manifest = {**manifest, "redirect_url": self.redirect_url}
        self._page = form_page(self.manifest, action, self.state).encode()
        # A short poll interval: close() waits for the loop to notice the shutdown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> str:
        self._thread.start()
        return self.url

    def wait(self, timeout: float) -> str:
        """The code GitHub sent back; ConfigurationError if none came within ``timeout``."""
        if not self._received.wait(timeout) or self._code is None:
            raise ConfigurationError(
                f"GitHub did not send the App back within {timeout:.0f} s; "
                "run `farcaster register` again."
            )
        return self._code

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def _accept(self, query: str) -> tuple[int, str]:
        params = parse_qs(query)
        code = (params.get("code") or [""])[0]
        state = (params.get("state") or [""])[0]
        if not secrets.compare_digest(state.encode(), self.state.encode()):
            return 400, "This answer is not for this registration (state mismatch)."
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,200}", code):
            return 400, "GitHub's answer carried no usable code."
        if self._received.is_set():
            return 200, "The App was already received. You can close this tab."
        self._code = code
        self._received.set()
        return 200, "The GitHub App was created. You can close this tab and return to the terminal."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        flow = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                if path == "/":
                    self._answer(200, flow._page, "text/html; charset=utf-8")
                elif path == "/callback":
                    status, text = flow._accept(query)
                    body = f"<!doctype html><p>{html.escape(text)}</p>".encode()
                    self._answer(status, body, "text/html; charset=utf-8")
                else:
                    self._answer(404, b"Not found", "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                # The default prints every request line to stderr, the one-time code included.
                pass

        return Handler


# -- the exchange and the files ----------------------------------------------------------


def exchange_manifest_code(
    api_url: str,
    code: str,
    *,
    http: httpx.Client | None = None,
    api_version: str = "2022-11-28",
) -> AppCredentials:
    """Trade the redirect's code for the new App's credentials (the code works once)."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    headers = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": api_version,
        "User-Agent": "farcaster-bot",
    }
    client = http or httpx.Client(timeout=30.0)
    try:
        response = client.post(url, headers=headers)
    except httpx.HTTPError as exc:
        raise GitHubUnavailable(f"GitHub could not be reached at {url}: {exc}") from None
    finally:
        if http is None:
            client.close()
    if response.status_code >= 500:
        raise GitHubUnavailable(
            f"GitHub answered {response.status_code} to the manifest conversion; try again.",
            status=response.status_code,
        )
    if response.status_code == 404:
        raise GitHubRefused(
            "GitHub does not know this manifest code (a code works once and for an hour); "
            "run `farcaster register` again.",
            status=404,
        )
    if response.status_code not in (200, 201):
        raise GitHubRefused(
            f"GitHub answered {response.status_code} to the manifest conversion: "
            f"{response.text[:200]}",
            status=response.status_code,
        )
    return _credentials(response)


def _credentials(response: httpx.Response) -> AppCredentials:
    try:
        body = response.json()
        return AppCredentials(
            id=int(body["id"]),
            slug=str(body["slug"]),
            name=str(body.get("name") or body["slug"]),
            html_url=str(body.get("html_url") or ""),
            pem=str(body["pem"]),
            webhook_secret=str(body["webhook_secret"]),
            client_id=str(body.get("client_id") or ""),
            client_secret=str(body.get("client_secret") or ""),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise GitHubError(f"GitHub's answer to the manifest conversion lacks {exc}.") from None


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the first byte (a temporary file in the
    same directory, renamed over ``path``), so no other user can ever read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_env(
    path: Path,
    creds: AppCredentials,
    pem_path: Path,
    *,
    extra: Mapping[str, str] | None = None,
) -> None:
    """Write the key to ``pem_path`` and the App's settings into the ``.env`` at ``path``.

    Other lines of an existing ``.env`` are kept; earlier values of the settings we write
    (and an inline ``FARCASTER_GITHUB_PRIVATE_KEY``, even over several lines) are replaced.
    """
    pem_path = pem_path.resolve()
    write_private_file(pem_path, creds.pem)
    values = {
        "FARCASTER_GITHUB_APP_ID": str(creds.id),
        "FARCASTER_GITHUB_APP_SLUG": creds.slug,
        "FARCASTER_GITHUB_PRIVATE_KEY_PATH": str(pem_path),
        "FARCASTER_WEBHOOK_SECRET": creds.webhook_secret,
        **dict(extra or {}),
    }
    old = path.read_text() if path.exists() else ""
    kept = list(_lines_without(old, {*SETTINGS_REPLACED, *values}))
    if kept and kept[-1].strip():
        kept.append("")
    kept.append(f"# The GitHub App {creds.slug} (id {creds.id}), from `farcaster register`.")
    kept.extend(f"{key}={_quote(value)}" for key, value in values.items())
    write_private_file(path, "\n".join(kept) + "\n")


_ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$")


def _lines_without(text: str, keys: set[str]) -> Iterator[str]:
    """The lines of a .env text, minus the assignments of ``keys`` (quoted values included)."""
    lines = iter(text.splitlines())
    for line in lines:
        match = _ASSIGNMENT.match(line)
        if match is None or match.group(1) not in keys:
            yield line
            continue
        value = match.group(2)
        quote_char = value[:1]
        if quote_char in ("'", '"') and not _closes(value[1:], quote_char):
            for rest in lines:  # skip the continuation lines of a multi-line value
                if _closes(rest, quote_char):
                    break


def _closes(text: str, quote_char: str) -> bool:
    return re.search(rf"(?<!\\){quote_char}", text) is not None


def _quote(value: str) -> str:
    """A .env value: bare when safe; else single-quoted (python-dotenv expands ``${...}``
    in double quotes and bare values, never in single quotes)."""
    if re.fullmatch(r"[A-Za-z0-9_./:@+-]*", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- the command -------------------------------------------------------------------------


def _default_api_url() -> str:
    from bot.core.settings import get_settings

    try:
        return get_settings().github_api_url
    except Exception:  # a broken setting elsewhere must not stop registration
        return DEFAULT_API_URL


def _check_writable(env_file: Path, key_file: Path, force: bool) -> None:
    if key_file.exists() and not force:
        raise ConfigurationError(
            f"{key_file} exists; pass --key-file for another path, or --force to replace it."
        )
    for directory in {env_file.resolve().parent, key_file.resolve().parent}:
        probe = directory
        while not probe.exists():
            probe = probe.parent
        if not os.access(probe, os.W_OK):
            raise ConfigurationError(f"Cannot write to {directory}; choose other paths.")
    if env_file.exists() and not os.access(env_file, os.W_OK):
        raise ConfigurationError(f"Cannot write {env_file}; choose another --env-file.")


def register(
    webhook_url: Annotated[
        str,
        typer.Option(
            "--webhook-url",
            help="Where GitHub sends webhooks: https://YOUR-HOST/api/github/webhooks.",
        ),
    ],
    org: Annotated[
        str | None, typer.Option("--org", help="Create the App under this organization.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="App name (unique on GitHub); default: app.yml.")
    ] = None,
    env_file: Annotated[
        Path, typer.Option("--env-file", help="The .env file to write the settings to.")
    ] = Path(".env"),
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", help="Where to save the private key [default: farcaster.pem by .env]."
        ),
    ] = None,
    manifest_path: Annotated[
        Path | None, typer.Option("--manifest", help="Manifest to use instead of app.yml.")
    ] = None,
    api_url: Annotated[
        str | None,
        typer.Option("--api-url", help="GitHub API URL [default: FARCASTER_GITHUB_API_URL]."),
    ] = None,
    github_url: Annotated[
        str | None,
        typer.Option("--github-url", help="GitHub web URL [default: derived from the API URL]."),
    ] = None,
    port: Annotated[
        int, typer.Option("--port", help="Local port for GitHub's redirect (0: any).")
    ] = DEFAULT_PORT,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the local URL instead of opening it.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for GitHub's redirect.")
    ] = 900.0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key file.")] = False,
) -> None:
    """Create the Farcaster GitHub App on GitHub from app.yml and save its credentials.

    Writes FARCASTER_GITHUB_APP_ID, FARCASTER_GITHUB_APP_SLUG, FARCASTER_GITHUB_PRIVATE_KEY_PATH
    and FARCASTER_WEBHOOK_SECRET to the .env file and the private key to its own file, both
    readable by you only. Secrets are never printed. Exit codes: 0 registered, 1 GitHub
    refused or did not answer, 2 configuration error.
    """
    api = (api_url or _default_api_url()).rstrip("/")
    key_path = key_file or env_file.parent / "farcaster.pem"
    try:
        _check_writable(env_file, key_path, force)
        manifest = build_manifest(
            load_manifest(manifest_text(manifest_path)),
            webhook_url=webhook_url,
            redirect_url="",  # set by the flow once its port is known
            name=name,
        )
        action = new_app_url(github_url or web_url_from_api(api), org)
        flow = ManifestFlow(manifest, action, port=port)
        try:
            url = flow.start()
            if no_browser:
                typer.echo(f"Open {url} in a browser signed in to GitHub to create the App.")
            else:
                typer.echo(f"Opening {url} (if no browser opens, visit it yourself).")
                open_browser(url)
            code = flow.wait(timeout)
        finally:
            flow.close()
        creds = exchange_manifest_code(api, code)
        extra = {"FARCASTER_GITHUB_API_URL": api} if api != DEFAULT_API_URL else {}
        write_env(env_file, creds, key_path, extra=extra)
    except ConfigurationError as exc:
        typer.secho(f"farcaster register: {exc.message}", err=True, fg="red")
        raise typer.Exit(2) from None
    except GitHubError as exc:
        typer.secho(f"farcaster register: {exc.message}", err=True, fg="red")
        raise typer.Exit(1) from None
    typer.echo(f"Created the GitHub App {creds.name!r} (id {creds.id}): {creds.html_url}")
    typer.echo(f"Saved its settings to {env_file} and its private key to {key_path} (mode 600).")
    if creds.html_url:
        typer.echo(f"Next: install it on your repositories at {creds.html_url}/installations/new")
