"""Logging: the JSON shape operators parse, the context fields, and secrets never printed."""

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.core.settings import Settings
from bot.observe.logs import configure_logging, log_context

WEBHOOK_SECRET = "It's a Secret to Everybody"
GITHUB_TOKEN = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJpc3MiOiIxMjM0NSIsImlhdCI6MTcwMDAwMDAwMH0"
    ".c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
)


@pytest.fixture
def output(rsa_private_key_pem: str) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    factory = logging.getLogRecordFactory()
    yield stream
    logging.setLogRecordFactory(factory)
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_farcaster_handler", False)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def json_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def settings_with_secrets(pem: str) -> Settings:
    return Settings(
        github_private_key=pem,  # type: ignore[arg-type]
        webhook_secret=WEBHOOK_SECRET,  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


def test_json_is_one_object_per_line_with_time_level_logger_and_message(
    output: io.StringIO,
) -> None:
    configure_logging("json", secrets=[], stream=output)
    logging.getLogger("bot.worker.runner").info("claimed %d jobs", 3)
    logging.getLogger("bot.worker.runner").debug("not shown at INFO")
    (entry,) = json_lines(output)
    assert entry["level"] == "INFO" and entry["logger"] == "bot.worker.runner"
    assert entry["message"] == "claimed 3 jobs"
    assert str(entry["time"]).endswith("+00:00") and "T" in str(entry["time"])
    assert not {"job_id", "delivery_id", "repo", "attempt"} & entry.keys()


def test_context_fields_come_from_extra_and_from_log_context(output: io.StringIO) -> None:
    configure_logging("json", secrets=[], stream=output)
    log = logging.getLogger("bot.worker.runner")
    with log_context(job_id="0123456789ab", repo="octo/widgets"):
        with log_context(attempt=2):
            log.info("agent started")
        log.info("attempt over", extra={"attempt": 3, "delivery_id": "d-1"})
    log.info("outside")
    inner, explicit, outside = json_lines(output)
    assert inner["job_id"] == "0123456789ab" and inner["repo"] == "octo/widgets"
    assert inner["attempt"] == 2
    assert explicit["attempt"] == 3 and explicit["delivery_id"] == "d-1"
    assert explicit["job_id"] == "0123456789ab"
    assert "job_id" not in outside and "attempt" not in outside


def test_configuring_twice_keeps_one_handler(output: io.StringIO) -> None:
    configure_logging("console", secrets=[], stream=io.StringIO())
    configure_logging("json", secrets=[], stream=output)
    logging.getLogger("x").warning("once")
    assert len(json_lines(output)) == 1


def test_console_lines_are_readable_and_carry_the_context(output: io.StringIO) -> None:
    configure_logging("console", "debug", secrets=[], stream=output)
    with log_context(job_id="abc123", repo="octo/widgets"):
        logging.getLogger("bot.worker").debug("lease extended")
    line = output.getvalue().strip()
    assert "DEBUG" in line and "bot.worker: lease extended" in line
    assert line.endswith("job_id=abc123 repo=octo/widgets")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_known_secrets_are_redacted_from_message_fields_and_exceptions(
    fmt: str, output: io.StringIO, rsa_private_key_pem: str
) -> None:
    settings = settings_with_secrets(rsa_private_key_pem)
    configure_logging(fmt, secrets=settings.secret_values(), stream=output)  # type: ignore[arg-type]
    log = logging.getLogger("webhooks.app")
    log.warning("bad signature, secret was %s", WEBHOOK_SECRET)
    log.info("key loaded", extra={"key": rsa_private_key_pem, "nested": {"s": WEBHOOK_SECRET}})
    with log_context(repo=f"octo/{WEBHOOK_SECRET}"):
        try:
            raise RuntimeError(f"GitHub said no to {GITHUB_TOKEN}")
        except RuntimeError:
            log.exception("call failed with header Authorization: Bearer %s", JWT)
    text = output.getvalue()
    body_line = rsa_private_key_pem.splitlines()[1]
    for secret in (WEBHOOK_SECRET, GITHUB_TOKEN, JWT, body_line, "BEGIN PRIVATE KEY"):
        assert secret not in text
    assert text.count("[REDACTED]") >= 5
    assert "RuntimeError: GitHub said no to [REDACTED]" in text
    assert "Bearer [REDACTED]" in text


@pytest.mark.parametrize(
    "leak",
    [
        GITHUB_TOKEN,
        "ghp_" + "x" * 36,
        "github_pat_" + "Y" * 40,
        f"Bearer {JWT}",
        JWT,
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        "postgresql+psycopg://farcaster:hunter2hunter2@db:5432/farcaster",
    ],
)
def test_secret_shaped_strings_are_redacted_without_being_configured(
    leak: str, output: io.StringIO
) -> None:
    configure_logging("json", secrets=[], stream=output)
    logging.getLogger("bot").error("value: %s", leak, extra={"repo": leak})
    (entry,) = json_lines(output)
    for value in (entry["message"], entry["repo"]):
        assert "[REDACTED]" in str(value)
    for part in ("x" * 36, "Y" * 40, "hunter2hunter2", "MIIEpAIBAAKCAQEA", JWT, GITHUB_TOKEN):
        assert part not in output.getvalue()


def test_ordinary_messages_are_left_alone(output: io.StringIO) -> None:
    configure_logging("json", secrets=["a-long-secret-value"], stream=output)
    message = "job 0123456789ab: fencing token 7, attempt 2 of 5, branch farcaster/0123456789ab"
    logging.getLogger("bot").info(message, extra={"job_id": "0123456789ab", "attempt": 2})
    (entry,) = json_lines(output)
    assert entry["message"] == message and entry["attempt"] == 2


def test_secrets_default_to_the_settings(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.core.settings import get_settings

    monkeypatch.setenv("FARCASTER_WEBHOOK_SECRET", "from-the-environment-123")
    get_settings.cache_clear()
    try:
        configure_logging("json", stream=output)
        logging.getLogger("bot").info("secret is from-the-environment-123")
    finally:
        get_settings.cache_clear()
    assert "from-the-environment-123" not in output.getvalue()


TARBALL_TOKEN = "AABCDEFGHIJKLMNOPQRSTUVWX2Y3Z4"


def test_signed_url_tokens_logged_by_httpx_are_redacted(output: io.StringIO) -> None:
    configure_logging("console", secrets=[], stream=output)
    url = f"https://codeload.github.com/o/r/legacy.tar.gz/abc?token={TARBALL_TOKEN}&x=1"
    # What httpx's own INFO line looks like for the redirect GitHub answers a tarball with.
    logging.getLogger("httpx").info('HTTP Request: %s %s "%s"', "GET", url, "HTTP/1.1 200 OK")
    signed = "https://bucket.s3.amazonaws.com/k?X-Amz-Credential=AKID%2F1&X-Amz-Signature=abc123def"
    logging.getLogger("urllib3").warning("fetched %s", signed)
    text = output.getvalue()
    assert TARBALL_TOKEN not in text and "abc123def" not in text and "AKID" not in text
    assert "legacy.tar.gz/abc?token=[REDACTED]&x=1" in text


def test_a_third_party_logger_with_its_own_handler_is_redacted_too(
    output: io.StringIO, rsa_private_key_pem: str
) -> None:
    configure_logging("json", secrets=[WEBHOOK_SECRET], stream=output)
    own = io.StringIO()
    lib = logging.getLogger("some.library")
    handler = logging.StreamHandler(own)
    lib.addHandler(handler)
    lib.propagate = False
    try:
        lib.warning("secret %s token %s", WEBHOOK_SECRET, GITHUB_TOKEN)
        try:
            raise ValueError(f"boom ?token={TARBALL_TOKEN}")
        except ValueError:
            lib.exception("failed")
    finally:
        lib.removeHandler(handler)
        lib.propagate = True
    printed = own.getvalue()
    assert "[REDACTED]" in printed and "ValueError: boom ?token=[REDACTED]" in printed
    for secret in (WEBHOOK_SECRET, GITHUB_TOKEN, TARBALL_TOKEN):
        assert secret not in printed


def test_the_key_from_a_key_file_is_redacted(
    output: io.StringIO, monkeypatch: pytest.MonkeyPatch, tmp_path, rsa_private_key_pem: str
) -> None:
    from bot.core.settings import get_settings

    key = tmp_path / "app.pem"
    key.write_text(rsa_private_key_pem)
    monkeypatch.setenv("FARCASTER_GITHUB_PRIVATE_KEY_PATH", str(key))
    database_url = "postgresql+psycopg://bot@db.internal/farcaster"
    monkeypatch.setenv("FARCASTER_DATABASE_URL", database_url)
    get_settings.cache_clear()
    body_line = rsa_private_key_pem.splitlines()[4]
    try:
        configure_logging("json", stream=output)
        logging.getLogger("bot").info("read %s from %s", body_line, database_url)
    finally:
        get_settings.cache_clear()
    assert body_line not in output.getvalue() and database_url not in output.getvalue()
