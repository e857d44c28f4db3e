"""Settings, read from the environment with the prefix ``FARCASTER_``.

Nothing is read at import time: call :func:`get_settings`. A missing required
setting is reported by the ``require_*`` methods (:meth:`Settings.require_github_app`,
:meth:`Settings.require_webhook_secret`), one sentence naming the variable.
"""

from contextlib import suppress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.errors import ConfigurationError


class Settings(BaseSettings):
    """Every knob of a Farcaster process. Each field is documented where it is declared."""

    model_config = SettingsConfigDict(env_prefix="FARCASTER_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///farcaster.db",
        description="SQLAlchemy URL of the store. SQLite for one machine; "
        "postgresql+psycopg://user@host/db for several.",
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        description="GitHub REST base URL. GitHub Enterprise Server: https://HOST/api/v3; "
        "the local emulator: the URL it prints.",
    )
    github_api_version: str = Field(
        default="2022-11-28",
        description="X-GitHub-Api-Version sent with every call (GHES knows 2022-11-28).",
    )
    github_app_id: int | None = Field(default=None, description="The GitHub App's numeric id.")
    github_app_slug: str = Field(
        default="farcaster", description="The App's slug, so that '@slug rename a b' is a command."
    )
    github_private_key: SecretStr | None = Field(
        default=None, description="The App's PEM private key (or use GITHUB_PRIVATE_KEY_PATH)."
    )
    github_private_key_path: Path | None = Field(
        default=None, description="A file holding the App's PEM private key."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="The secret GitHub signs webhook deliveries with."
    )
    command_prefix: str = Field(
        default="/farcaster", description="What a comment line starts with to be a command."
    )
    lease_seconds: float = Field(
        default=30.0, gt=0, description="How long a claim holds a job; heartbeats at a third."
    )
    max_attempts: int = Field(
        default=5,
        ge=1,
        description="Attempts that may fail (or lose their lease) before a job becomes a "
        "tombstone; claims, phase changes, drifts and waits spend none.",
    )
    max_drifts: int = Field(
        default=5,
        ge=0,
        description="Times a job may go back to run on a new base (drift) before it becomes "
        "a tombstone (too_many_drifts).",
    )
    max_waits: int = Field(
        default=100,
        ge=0,
        description="Rate-limit and pacing waits a job may take before it becomes a tombstone "
        "(too_many_waits).",
    )
    agents_file: Path | None = Field(
        default=None, description="TOML file defining command agents (argv, timeout, verify)."
    )
    agent_timeout_seconds: float = Field(
        default=300.0, gt=0, description="Default time budget of one agent run."
    )
    verify_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        description="The most a repository's verify step may take per tree (setup and run).",
    )
    verify_network: list[str] = Field(
        default_factory=list,
        description="host:port pairs every verify step may reach through the egress proxy, "
        'as JSON: ["pypi.org:443", "files.pythonhosted.org:443"] (a setup that installs).',
    )
    sandbox: Literal["on", "off"] = Field(
        default="on",
        description="Run agents in bubblewrap (on). 'off' is UNSAFE, for development only: "
        "agents then see the whole machine, its files and its network.",
    )
    sandbox_bwrap: str = Field(
        default="bwrap", description="The bubblewrap program (a name on PATH, or a path)."
    )
    agent_cpu_seconds: int = Field(default=600, gt=0, description="CPU seconds per agent process.")
    agent_memory_bytes: int = Field(
        default=4 * 1024**3,
        gt=0,
        description="Memory of an agent run (cgroup v2), else per process (RLIMIT_AS).",
    )
    agent_max_processes: int = Field(
        default=1024,
        gt=0,
        description="Processes (and threads) an agent may run at once.",
    )
    agent_max_file_bytes: int = Field(
        default=1024**3, gt=0, description="Largest file an agent may write (RLIMIT_FSIZE)."
    )
    agent_disk_bytes: int = Field(
        default=2 * 1024**3, gt=0, description="How much an agent may grow its checkout and HOME."
    )
    agent_tmp_bytes: int = Field(
        default=512 * 1024**2, gt=0, description="Size of an agent's private /tmp."
    )
    agent_max_output_bytes: int = Field(
        default=64 * 1024**2, gt=0, description="Output (stdout and stderr) an agent may print."
    )
    sandbox_uid_base: int = Field(
        default=1_500_000,
        gt=0,
        description="A root worker runs each agent as its own uid from this one up "
        "(SANDBOX_UID_COUNT of them), so that process limits and file permissions hold.",
    )
    sandbox_uid_count: int = Field(default=1000, gt=0, description="See SANDBOX_UID_BASE.")
    scratch_dir: Path | None = Field(
        default=None, description="Where checkouts are made; a temporary directory if unset."
    )
    max_diff_bytes: int = Field(
        default=5_000_000, gt=0, description="Largest proposal diff the interpreter accepts."
    )
    max_file_bytes: int = Field(
        default=1_000_000, gt=0, description="Largest single file a proposal may write."
    )
    refresh_window_seconds: float = Field(
        default=300.0,
        ge=0,
        description="At most one automatic refresh of a proposal per this many seconds.",
    )
    max_refreshes_per_hour: int = Field(
        default=30,
        ge=0,
        description="At most this many automatic refreshes a repository gets an hour.",
    )
    tree_chunk_entries: int = Field(
        default=100,
        ge=1,
        description="Most entries in one POST git/trees request (proposals/trees.py).",
    )
    tree_chunk_bytes: int = Field(
        default=1_000_000,
        ge=1,
        description="Most bytes of request body in one POST git/trees request.",
    )
    writes_per_minute: float = Field(
        default=60.0,
        ge=0,
        description="Content-creating GitHub requests per installation per minute, shared by "
        "every worker (bot/store/pacing.py); 0 turns pacing off. GitHub allows about 80.",
    )
    write_burst: int = Field(
        default=10, ge=1, description="How many content-creating requests may go out at once."
    )
    permission_cache_seconds: float = Field(
        default=60.0, ge=0, description="How long a commenter's repository permission is cached."
    )
    intake_busy_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How long intake waits for another writer's lock on SQLite before it "
        "answers 503 with Retry-After (GitHub gives a delivery 10 s).",
    )
    delivery_retention_days: float = Field(
        default=7.0,
        gt=0,
        description="How long a settled delivery's raw body is kept (compressed) before the "
        "triage loop empties it; the delivery's record stays.",
    )
    recovery_interval_seconds: float = Field(
        default=300.0,
        ge=0,
        description="How often the App's failed webhook deliveries are listed and the ones "
        "the inbox lacks redelivered (also at start); 0 turns recovery off.",
    )
    fault: str | None = Field(
        default=None,
        description="Test hook: end the process abruptly at this named step (bot/core/faults.py).",
    )

    def private_key_pem(self) -> str:
        """The App's private key, from the value or the file; a clear error when neither is set."""
        if self.github_private_key is not None:
            return self.github_private_key.get_secret_value()
        if self.github_private_key_path is not None:
            try:
                return self.github_private_key_path.read_text()
            except OSError as exc:
                raise ConfigurationError(
                    f"FARCASTER_GITHUB_PRIVATE_KEY_PATH points at {self.github_private_key_path}, "
                    f"which cannot be read ({exc.strerror})."
                ) from exc
        raise ConfigurationError(
            "FARCASTER_GITHUB_PRIVATE_KEY or FARCASTER_GITHUB_PRIVATE_KEY_PATH must be set "
            "to the GitHub App's private key."
        )

    def require_app_id(self) -> int:
        if self.github_app_id is None:
            raise ConfigurationError("FARCASTER_GITHUB_APP_ID must be set to the GitHub App's id.")
        return self.github_app_id

    def require_webhook_secret(self) -> str:
        if self.webhook_secret is None or not self.webhook_secret.get_secret_value():
            raise ConfigurationError(
                "FARCASTER_WEBHOOK_SECRET must be set to the secret configured on the GitHub App."
            )
        return self.webhook_secret.get_secret_value()

    def require_github_app(self) -> None:
        """Stop a process that talks to GitHub now, not at its first job, when the App's id
        or key is missing or unreadable."""
        self.require_app_id()
        self.private_key_pem()

    def secret_values(self) -> list[str]:
        """Every secret this process knows, for redaction of logs and agent output."""
        return [value for values in self.secret_values_by_kind().values() for value in values]

    def secret_values_by_kind(self) -> dict[str, list[str]]:
        """Every secret this process knows, by kind (the diff scanner names the kind).

        - ``webhook_secret``;
        - ``app_private_key``: the PEM, from the variable or from the key file (an unreadable
          file gives nothing: this process cannot use that key either);
        - ``database``: the URL's password, and the whole URL of a database server (it names
          the host and user, which with trust authentication is all it takes). A SQLite
          URL is only a file name.
        """
        kinds: dict[str, list[str]] = {}
        if self.webhook_secret is not None and self.webhook_secret.get_secret_value():
            kinds["webhook_secret"] = [self.webhook_secret.get_secret_value()]
        if self.github_private_key is not None or self.github_private_key_path is not None:
            with suppress(ConfigurationError):
                if key := self.private_key_pem():
                    kinds["app_private_key"] = [key]
        url = urlsplit(self.database_url)
        # The password as written in the URL (percent-encoded) and as the server knows it.
        database = [unquote(url.password), url.password] if url.password else []
        if not url.scheme.startswith("sqlite"):
            database.append(self.database_url)
        if database:
            kinds["database"] = list(dict.fromkeys(database))
        return kinds


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
