"""Every error Farcaster raises on purpose, in one tree.

::

    FarcasterError                      retryable?  reason_code
    ├── ConfigurationError              no          configuration
    ├── StoreError
    │   ├── JobNotFound                 no          job_not_found
    │   ├── StaleFencingToken           no          stale_fencing_token
    │   ├── LeaseLost                   no          lease_lost
    │   ├── StoreUnavailable            yes         store_unavailable (the database failed us)
    │   └── WriteConflict               yes         write_conflict   (a concurrent write won)
    ├── GitHubError                     yes         github_error
    │   ├── RateLimited                 yes         rate_limited     (retry_after seconds)
    │   │   └── CredentialsRejected     yes         github_auth      (waits like a rate limit)
    │   ├── GitHubUnavailable           yes         github_unavailable (5xx, network)
    │   └── GitHubRefused               no          github_refused   (4xx we cannot fix by waiting)
    │       └── RefConflict             no          ref_conflict     (a branch we do not own)
    └── Refusal                         no          (each instance carries its own code)
        ├── InvalidDiff                              invalid_diff, git_dir, bad_file_name,
        │                                            symlink_outside_repo, ... (validation.py)
        ├── AgentFailed                              agent_failed, agent_timeout, ...,
        │                                            secret_in_diff (bot/core/secret_scan.py),
        │                                            git_dir, git_timeout (bot/worker/checkout.py),
        │                                            permission_denied (bot/worker/runner.py),
        │                                            one code per sandbox limit (below)
        ├── UnsafeSnapshot                           unsafe_snapshot (a tarball we refuse)
        └── InvalidRepoConfig                        invalid_repo_config (.github/farcaster.yml)

An agent stopped by a limit of its sandbox (bot/sandbox/limits.py) fails with that limit's
code: ``agent_cpu_limit``, ``agent_memory_limit``, ``agent_process_limit``,
``agent_disk_limit`` (a file, the checkout's growth, ``/tmp``, or a full scratch disk) or
``agent_output_limit``; a ``replace --regex`` pattern the linear-time engine cannot take is
``unsupported_regex``. None of them is retried: the same agent would hit the same limit.

A tombstone may also carry a code that no exception raises (bot/store/store.py):
``lease_expired`` (the last attempt stopped answering), ``too_many_drifts`` (past
``max_drifts``) and ``too_many_waits`` (past ``max_waits`` rate-limit and pacing waits).

Driver and HTTP exceptions are translated into these at the store and GitHub-client
edges (the store's at its connection and transaction boundary, bot/store/database.py);
nothing above those edges imports ``sqlalchemy.exc`` or ``httpx``, except ``farcaster
register`` (bot/cli/commands/register.py), whose one call before the App exists translates
its own.
"""


class FarcasterError(Exception):
    """Base class. ``reason_code`` is stable and machine-readable; ``str(exc)`` is for humans."""

    reason_code = "error"
    retryable = False

    def __init__(self, message: str, *, reason_code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason_code is not None:
            self.reason_code = reason_code


class ConfigurationError(FarcasterError):
    reason_code = "configuration"


class StoreError(FarcasterError):
    reason_code = "store_error"


class JobNotFound(StoreError):
    reason_code = "job_not_found"


class StaleFencingToken(StoreError):
    """A write carried a fencing token older than the job's: another holder owns the job now."""

    reason_code = "stale_fencing_token"


class LeaseLost(StoreError):
    reason_code = "lease_lost"


class StoreUnavailable(StoreError):
    """The database could not serve the call: unreachable, timed out, locked, not migrated."""

    reason_code = "store_unavailable"
    retryable = True


class WriteConflict(StoreError):
    """A concurrent transaction wrote the same unique key first; running again resolves it."""

    reason_code = "write_conflict"
    retryable = True


class GitHubError(FarcasterError):
    reason_code = "github_error"
    retryable = True

    def __init__(self, message: str, *, status: int | None = None, reason_code: str | None = None):
        super().__init__(message, reason_code=reason_code)
        self.status = status


class RateLimited(GitHubError):
    reason_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class CredentialsRejected(RateLimited):
    """GitHub refused the App's credentials (401) even after a freshly minted token.

    A clock skew, a restarted GitHub Enterprise or a rotated key heal without us, so this
    waits like a rate limit: the job or outbox item is postponed with its attempt refunded,
    intake answers 503 with ``Retry-After``; it is never a final verdict.
    """

    reason_code = "github_auth"

    def __init__(self, message: str, *, retry_after: float = 60.0, status: int | None = 401):
        super().__init__(message, retry_after=retry_after, status=status)


class Paced(RateLimited):
    """Farcaster's own pacing of content-creating requests (bot/store/pacing.py) asks the
    caller to wait: the installation's shared bucket is empty. Nothing was sent."""

    reason_code = "paced"


class GitHubUnavailable(GitHubError):
    reason_code = "github_unavailable"


class GitHubRefused(GitHubError):
    reason_code = "github_refused"
    retryable = False


class RefConflict(GitHubRefused):
    reason_code = "ref_conflict"


class Refusal(FarcasterError):
    """A decision, not an accident: retrying would give the same answer."""

    reason_code = "refused"


class InvalidDiff(Refusal):
    reason_code = "invalid_diff"


# The reason codes of sandbox limits, with what each says to a maintainer.
LIMIT_REASONS = {
    "agent_cpu_limit": "used up its CPU time",
    "agent_memory_limit": "ran out of memory",
    "agent_process_limit": "started more processes than it may",
    "agent_disk_limit": "wrote more than it may (or the disk is full)",
    "agent_output_limit": "printed more output than it may",
}


class AgentFailed(Refusal):
    reason_code = "agent_failed"

    def __init__(self, message: str, *, reason_code: str | None = None, retryable: bool = False):
        super().__init__(message, reason_code=reason_code)
        self.retryable = retryable


class UnsafeSnapshot(Refusal):
    """The repository tarball holds a member we refuse to unpack (link out, device, ``..``)."""

    reason_code = "unsafe_snapshot"


class InvalidRepoConfig(Refusal):
    """The repository's ``.github/farcaster.yml`` is malformed or asks for more than allowed."""

    reason_code = "invalid_repo_config"
