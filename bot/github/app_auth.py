"""App authentication that follows GitHub's clock, not ours.

An App's JWT says when it was issued and when it expires, and GitHub checks both against
its own clock: a machine whose clock is off by more than a few minutes (or a GitHub
Enterprise Server whose clock is) has every JWT refused with 401, and so can mint no
installation token at all. Octokit's answer, taken here: when GitHub refuses a JWT, read the
``Date`` header of that refusal, remember how far GitHub's clock is from ours, and sign the
next JWT on GitHub's time. The offset is per client, learnt only from GitHub's answers.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx
import jwt
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy
from githubkit.auth.app import AppAuth

if TYPE_CHECKING:
    from githubkit import GitHubCore


@dataclass
class GitHubClock:
    """How far GitHub's clock is ahead of ours (negative: behind)."""

    offset: timedelta = field(default_factory=timedelta)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def learn(self, response: httpx.Response) -> bool:
        """Take GitHub's time from ``response``'s ``Date``; True when the offset changed."""
        header = response.headers.get("Date")
        if not header:
            return False
        try:
            theirs = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            return False
        offset = theirs - datetime.now(UTC)
        # Date has whole seconds; only a real skew is worth a new JWT.
        if abs(offset - self.offset) < timedelta(seconds=30):
            return False
        self.offset = offset
        return True


@dataclass
class _ClockedAppAuth(AppAuth):
    clock: GitHubClock = field(default_factory=GitHubClock)

    def _create_jwt(self) -> str:
        # GitHub's own advice: issued a minute in the past, valid for ten minutes at most.
        issued = self.clock.now() - timedelta(minutes=1)
        claims = {"iss": self.issuer, "iat": issued, "exp": issued + timedelta(minutes=10)}
        return jwt.encode(claims, self.private_key, algorithm="RS256")


@dataclass
class ClockedInstallationAuth(AppInstallationAuthStrategy):
    """githubkit's installation auth, with JWTs signed on :attr:`clock`."""

    clock: GitHubClock = field(default_factory=GitHubClock)

    def get_auth_flow(self, github: "GitHubCore[Any]") -> httpx.Auth:
        return _ClockedAppAuth(
            github,
            self.app_id,
            self.private_key,
            self.client_id,
            self.client_secret,
            self.installation_id,
            self.repositories,
            self.repository_ids,
            self.permissions,
            clock=self.clock,
        )


@dataclass
class ClockedAppAuth(AppAuthStrategy):
    """githubkit's App (JWT) auth, for the App's own endpoints (``/app/hook/*``), with JWTs
    signed on :attr:`clock`."""

    clock: GitHubClock = field(default_factory=GitHubClock)

    def get_auth_flow(self, github: "GitHubCore[Any]") -> httpx.Auth:
        return _ClockedAppAuth(
            github,
            self.app_id,
            self.private_key,
            self.client_id,
            self.client_secret,
            clock=self.clock,
        )
