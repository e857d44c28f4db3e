"""The GitHub edge translates failures into errors that say whether waiting helps."""

import httpx
import pytest
import respx
from githubkit.cache import MemCacheStrategy

from bot.core.errors import GitHubRefused, GitHubUnavailable
from bot.core.settings import Settings
from bot.github.client import GitHubClient

API = "http://github.test/api/v3"


@pytest.fixture
def client(rsa_private_key_pem: str) -> GitHubClient:
    settings = Settings(
        github_api_url=API,
        github_app_id=1,
        github_private_key=rsa_private_key_pem,  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    return GitHubClient.for_installation(settings, 42, cache=MemCacheStrategy())


def test_refused_app_credentials_are_not_retried(client: GitHubClient) -> None:
    with respx.mock(base_url=API) as github:
        github.post("/app/installations/42/access_tokens").respond(
            401, json={"message": "A JSON web token could not be decoded"}
        )
        with pytest.raises(GitHubRefused) as refused:
            client.get_repo("acme", "widgets")
    assert refused.value.reason_code == "github_auth" and not refused.value.retryable
    assert "FARCASTER_GITHUB_APP_ID" in refused.value.message


def test_an_unreachable_github_is_retryable(client: GitHubClient) -> None:
    with respx.mock(base_url=API) as github:
        github.post("/app/installations/42/access_tokens").mock(
            side_effect=httpx.ConnectError("connection refused")
        )
        with pytest.raises(GitHubUnavailable) as unavailable:
            client.get_repo("acme", "widgets")
    assert unavailable.value.retryable


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"permission": "write", "role_name": "maintain"}, "maintain"),
        ({"permission": "write", "role_name": "release-managers"}, "write"),  # a custom role
        ({"permission": "read", "role_name": "read"}, "read"),
    ],
)
def test_collaborator_permission_reads_roles_and_custom_roles(
    client: GitHubClient, body: dict[str, str], expected: str
) -> None:
    with respx.mock(base_url=API) as github:
        github.post("/app/installations/42/access_tokens").respond(
            201, json={"token": "ghs_test", "expires_at": "2099-01-01T00:00:00Z"}
        )
        github.get("/repos/acme/widgets/collaborators/alice/permission").respond(200, json=body)
        assert client.collaborator_permission("acme", "widgets", "alice") == expected


NOT_A_COLLABORATOR = (
    "Reviews may only be requested from collaborators. One or more of the users or teams you "
    "specified is not a collaborator of the acme/widgets repository."
)


def test_a_refused_review_request_is_an_answer_not_an_error(client: GitHubClient) -> None:
    with respx.mock(base_url=API) as github:
        github.post("/app/installations/42/access_tokens").respond(
            201, json={"token": "ghs_test", "expires_at": "2099-01-01T00:00:00Z"}
        )
        route = github.post("/repos/acme/widgets/pulls/7/requested_reviewers")
        route.respond(422, json={"message": NOT_A_COLLABORATOR, "status": "422"})
        why = client.request_reviewers("acme", "widgets", 7, ["carol"], ["reviewers"])
        sent = route.calls.last.request.content
        route.respond(201, json={"number": 7})
        accepted = client.request_reviewers("acme", "widgets", 7, ["bob"], [])
    assert why == NOT_A_COLLABORATOR
    assert accepted is None
    assert b'"reviewers":["carol"]' in sent.replace(b" ", b"")
    assert b'"team_reviewers":["reviewers"]' in sent.replace(b" ", b"")


def test_other_review_request_failures_still_raise(client: GitHubClient) -> None:
    with respx.mock(base_url=API) as github:
        github.post("/app/installations/42/access_tokens").respond(
            201, json={"token": "ghs_test", "expires_at": "2099-01-01T00:00:00Z"}
        )
        github.post("/repos/acme/widgets/pulls/7/requested_reviewers").respond(
            403, json={"message": "Resource not accessible by integration"}
        )
        with pytest.raises(GitHubRefused) as refused:
            client.request_reviewers("acme", "widgets", 7, ["bob"], [])
    assert refused.value.status == 403


def test_calls_share_one_kept_alive_connection(rsa_private_key_pem: str) -> None:
    """githubkit opens a client per call; our shared transport keeps the TCP connection."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    connections: list[int] = []

    class GitHub(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            connections.append(1)

        def _answer(self, status: int, body: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # the installation token
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._answer(201, {"token": "ghs_x", "expires_at": "2099-01-01T00:00:00Z"})

        def do_GET(self) -> None:
            self._answer(200, {"name": "widgets"})

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), GitHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = Settings(
            github_api_url=f"http://127.0.0.1:{server.server_port}/api/v3",
            github_app_id=1,
            github_private_key=rsa_private_key_pem,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        client = GitHubClient.for_installation(settings, 42, cache=MemCacheStrategy())
        for _ in range(5):
            assert client.get_repo("acme", "widgets")["name"] == "widgets"
    finally:
        server.shutdown()
    assert len(connections) == 1
