"""Webhook signatures: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``.

Rule: only ``sha256=`` is accepted, never GitHub's legacy ``X-Hub-Signature`` (SHA-1), and the
HMAC is computed over the exact bytes received, before anything parses them. The comparison
is constant-time. Pure functions; no I/O.
"""

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """The header value GitHub would send for ``body`` (tests and the benchmark use it)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def is_valid_signature(secret: str, body: bytes, header: str | None) -> bool:
    """True only for ``sha256=`` followed by the HMAC of ``body`` under ``secret``."""
    if not header or not header.startswith(PREFIX):
        return False
    expected = sign(secret, body).encode()
    # Header values may carry any byte; compare bytes so odd input is a mismatch, not an error.
    received = header.encode("utf-8", "surrogateescape")
    return hmac.compare_digest(expected, received)
