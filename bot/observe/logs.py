"""Process logging: one JSON object per line for machines, readable lines for people.

The rules:

- Only the CLI calls :func:`configure_logging` (no side effects at import). It installs one
  handler on the root logger; calling it again replaces that handler instead of adding one.
- Context fields (``job_id``, ``delivery_id``, ``repo``, ``attempt``) come from
  ``extra={...}`` or from :func:`log_context`, which sets them for every record logged
  inside the ``with`` block, in this thread or task.
- Secrets never reach the output: :class:`RedactingFilter` sits on the handler, so every
  record of every logger passes through it. It rewrites the message (after ``%``
  formatting), every string field, the exception text and the stack text, removing the
  process's secret values, GitHub tokens, ``Bearer`` JWTs, PEM blocks and URL passwords.
"""

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO

from bot.core.redaction import REDACTED, Redactor

__all__ = [
    "CONTEXT_FIELDS",
    "ContextFilter",
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "log_context",
]

CONTEXT_FIELDS = ("job_id", "delivery_id", "repo", "attempt")

# Immutable default: log_context always sets a new mapping, never mutates this one.
_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "farcaster_log_context", default=MappingProxyType({})
)

# A JWT is three base64url parts, the first one a JSON header ("ey" is base64 of '{"').
_JWT = re.compile(r"\bey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/-]{16,}=*")

# What every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
_HANDLER_MARK = "_farcaster_handler"


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Attach ``fields`` to every record logged inside the block (nested blocks add up)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}


class ContextFilter(logging.Filter):
    """Copy the :func:`log_context` fields onto the record; ``extra=`` wins over context."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RedactingFilter(logging.Filter):
    """Remove secrets from the message, the extra fields and the exception of every record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._redactor = Redactor(secrets)

    def redact(self, text: str) -> str:
        text = self._redactor.redact(text)
        text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        return _JWT.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        # The formatters read exc_text; dropping exc_info stops them re-rendering the
        # traceback (with the unredacted exception message) from the live exception.
        record.exc_info = None
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in _extra_fields(record).items():
            setattr(record, key, self._redact_value(value))
        return True

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, Mapping):
            return {str(k): self._redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._redact_value(v) for v in value]
        return self.redact(str(value))


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", <context and extra fields>, "exception"}``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """``12:00:01 INFO  bot.worker.runner: message  job_id=abc repo=o/r``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _extra_fields(record)
        context = " ".join(f"{k}={fields[k]}" for k in CONTEXT_FIELDS if k in fields)
        others = " ".join(f"{k}={v}" for k, v in fields.items() if k not in CONTEXT_FIELDS)
        suffix = " ".join(part for part in (context, others) if part)
        if not suffix:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first}  {suffix}{newline}{rest}"


def configure_logging(
    fmt: Literal["json", "console"],
    level: str | int = "INFO",
    *,
    secrets: Iterable[str] | None = None,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as ``fmt``, secrets redacted.

    ``secrets`` defaults to ``get_settings().secret_values()``; settings that cannot be
    read (a bad variable) give no known secrets, while the secret-shaped patterns still apply.
    """
    if secrets is None:
        secrets = _settings_secrets()
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter(secrets))
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


def _settings_secrets() -> list[str]:
    from bot.core.settings import get_settings

    try:
        settings = get_settings()
    except Exception:  # a bad setting is reported elsewhere; logging must still start
        return []
    values = settings.secret_values()
    if settings.github_private_key_path is not None:
        # An unreadable key file leaves nothing to redact verbatim; the PEM pattern remains.
        with contextlib.suppress(Exception):
            values.append(settings.private_key_pem())
    return values
