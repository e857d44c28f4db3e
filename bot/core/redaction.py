"""Redaction and bounding of text that leaves a process (agent logs, failure messages).

The rule: anything an agent printed, and any error message, passes through a
:class:`Redactor` before it is stored, because the store feeds events, proposals and
comments, and secrets never reach those. A redactor removes

- every secret value this process knows (``Settings.secret_values()``), verbatim;
- anything shaped like a credential (:mod:`bot.core.credentials`: GitHub, AWS and Slack
  tokens, JWTs), and more loosely any ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_``/
  ``github_pat_`` token and any ``Bearer`` value, whoever they belong to;
- PEM blocks (``-----BEGIN ... PRIVATE KEY-----`` and friends);
- the password of a URL (``scheme://user:password@host``), e.g. a database URL;
- the value of a signed URL's secret query parameters (``?token=``, ``access_token``,
  ``X-Amz-Signature``, ``sig``, ``...key``, ``code`` ...): GitHub's tarball redirect
  carries a ``?token=`` that downloads the archive by itself.

Bounding keeps the head and the tail of a long log (the start says what ran, the end says
how it ended) and says how much was left out. Redact first, then bound: a secret cut in
half by the bound would no longer match.
"""

import re
from collections.abc import Iterable

from bot.core.credentials import remove_shapes

REDACTED = "[REDACTED]"

_GITHUB_TOKEN = re.compile(r"\bgh[pousr]_[A-Za-z0-9_]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}")
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:)[^\s/@]+(?=@)")
# A JWT is three base64url parts, the first one a JSON header ("ey" is base64 of '{"').
_JWT = re.compile(r"\bey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(?P<head>bearer\s+)[A-Za-z0-9._~+/-]{16,}=*")
# A query parameter whose name says it carries a secret: ?token=, &X-Amz-Signature=, ...
_SIGNED_PARAM = re.compile(
    r"(?i)(?P<head>[?&;][\w.-]*?(?:token|signature|sig|secret|password|passwd|pwd|credential"
    r"|key|code|auth)=)[^&#\s\"'<>]+"
)

# A secret shorter than this is not redacted verbatim: replacing every "a" or "42" in a log
# would destroy it while protecting nothing (settings refuse such secrets elsewhere).
MIN_SECRET_LENGTH = 6


class Redactor:
    """Removes known secrets and secret-shaped strings from text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        values = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        self._secrets = sorted(values, key=len, reverse=True)
        # A PEM value may appear with other line endings; match its body line by line too.
        self._pem_lines = {
            line.strip()
            for secret in self._secrets
            if "-----BEGIN" in secret
            for line in secret.splitlines()
            if len(line.strip()) >= 16 and not line.startswith("-----")
        }

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        text = _PEM_BLOCK.sub(REDACTED, text)
        text = remove_shapes(text, REDACTED)
        text = _GITHUB_TOKEN.sub(REDACTED, text)
        text = _JWT.sub(REDACTED, text)
        text = _BEARER.sub(rf"\g<head>{REDACTED}", text)
        text = _URL_PASSWORD.sub(rf"\g<head>{REDACTED}", text)
        text = _SIGNED_PARAM.sub(rf"\g<head>{REDACTED}", text)
        for line in self._pem_lines:
            text = text.replace(line, REDACTED)
        return text

    def clean(self, text: str, max_bytes: int, *, total_bytes: int | None = None) -> str:
        """Redacted, then bounded to ``max_bytes`` (UTF-8); see :func:`bound`."""
        return bound(self.redact(text), max_bytes, total_bytes=total_bytes)


def bound(text: str, max_bytes: int, *, total_bytes: int | None = None) -> str:
    """``text`` if it fits in ``max_bytes`` UTF-8 bytes; else its head and tail with a marker.

    The marker gives the true size: ``total_bytes`` when ``text`` is itself already a
    shortened capture of a longer output (an agent's 100 MiB is kept as head and tail).
    The result never exceeds ``max_bytes`` (for ``max_bytes`` of at least a hundred or so;
    below that the marker alone is returned, cut to size).
    """
    data = text.encode()
    if len(data) <= max_bytes:
        return text
    omitted = max(len(data), total_bytes or 0)
    marker = f"\n[... {omitted} bytes in all; the middle was left out ...]\n"
    room = max_bytes - len(marker.encode())
    if room <= 0:
        return marker.encode()[:max_bytes].decode(errors="ignore")
    head_bytes = room // 4
    tail_bytes = room - head_bytes
    head = data[:head_bytes].decode(errors="ignore")
    tail = data[len(data) - tail_bytes :].decode(errors="ignore")
    return head + marker + tail


def one_line(text: str, max_chars: int = 300) -> str:
    """The first non-empty line of ``text``, cut to ``max_chars`` (for event messages)."""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= max_chars else line[: max_chars - 1] + "…"
    return ""
