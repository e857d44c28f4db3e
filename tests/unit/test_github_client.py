"""The GitHub edge translates failures into errors that say whether waiting helps."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import jwt
import pytest
import respx
from githubkit.cache import MemCacheStrategy

from bot.core.errors import CredentialsRejected, GitHubRefused, GitHubUnavailable, RateLimited
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


TOKEN_PATH = "/app/installations/42/access_tokens"
BAD_CREDENTIALS = {
    "message": "Bad credentials",
    "documentation_url": "https://docs.github.com/rest",
}


def mint(github: respx.Router, *tokens: str) -> respx.Route:
    """The token endpoint hands out ``tokens`` in order, one per mint."""
    route = github.post(TOKEN_PATH)
    route.side_effect = [
        httpx.Response(201, json={"token": token, "expires_at": "2099-01-01T00:00:00Z"})
        for token in tokens
    ]
    return route


def test_a_refused_token_is_dropped_and_the_call_repeated_once_with_a_new_one(
    client: GitHubClient,
) -> None:
    with respx.mock(base_url=API) as github:
        minted = mint(github, "ghs_old", "ghs_new")
        repo = github.get("/repos/acme/widgets")
        repo.side_effect = lambda request: (
            httpx.Response(200, json={"full_name": "acme/widgets"})
            if request.headers["Authorization"].endswith("ghs_new")
            else httpx.Response(401, json=BAD_CREDENTIALS)
        )
        assert client.get_repo("acme", "widgets")["full_name"] == "acme/widgets"
        assert client.get_repo("acme", "widgets")["full_name"] == "acme/widgets"
    assert minted.call_count == 2  # the new token is kept for later calls
    assert repo.call_count == 3


def test_a_second_401_is_a_credentials_error_that_waits_instead_of_failing(
    client: GitHubClient,
) -> None:
    with respx.mock(base_url=API) as github:
        minted = mint(github, "ghs_one", "ghs_two")
        repo = github.get("/repos/acme/widgets").respond(401, json=BAD_CREDENTIALS)
        with pytest.raises(CredentialsRejected) as rejected:
            client.get_repo("acme", "widgets")
    assert minted.call_count == 2 and repo.call_count == 2
    assert isinstance(rejected.value, RateLimited) and rejected.value.retry_after > 0
    assert rejected.value.reason_code == "github_auth" and rejected.value.retryable


def test_a_refused_app_jwt_is_a_credentials_error_not_a_final_refusal(
    client: GitHubClient,
) -> None:
    with respx.mock(base_url=API) as github:
        github.post(TOKEN_PATH).respond(
            401, json={"message": "A JSON web token could not be decoded"}
        )
        with pytest.raises(CredentialsRejected) as rejected:
            client.get_repo("acme", "widgets")
    assert "App id, the private key and the clock" in rejected.value.message


def test_an_app_that_is_not_installed_is_refused(client: GitHubClient) -> None:
    with respx.mock(base_url=API) as github:
        github.post(TOKEN_PATH).respond(404, json={"message": "Not Found"})
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


def test_a_jwt_refused_for_the_clock_is_signed_again_on_githubs_time(
    client: GitHubClient,
) -> None:
    github_now = datetime.now(UTC) + timedelta(hours=2)
    issued_at: list[int] = []

    def token_endpoint(request: httpx.Request) -> httpx.Response:
        claims = jwt.decode(
            request.headers["Authorization"].removeprefix("Bearer "),
            options={"verify_signature": False},
        )
        issued_at.append(claims["iat"])
        if claims["exp"] <= github_now.timestamp():
            return httpx.Response(
                401,
                json={"message": "'Expiration time' claim ('exp') must be a numeric value"},
                headers={"Date": format_datetime(github_now, usegmt=True)},
            )
        return httpx.Response(201, json={"token": "ghs_ok", "expires_at": "2099-01-01T00:00:00Z"})

    with respx.mock(base_url=API) as github:
        github.post(TOKEN_PATH).mock(side_effect=token_endpoint)
        github.get("/repos/acme/widgets").respond(200, json={"full_name": "acme/widgets"})
        assert client.get_repo("acme", "widgets")["full_name"] == "acme/widgets"
    assert len(issued_at) == 2
    assert issued_at[1] - issued_at[0] == pytest.approx(2 * 3600, abs=60)
