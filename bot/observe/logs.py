"""Process logging: one JSON object per line for machines, readable lines for people.

The rules:

- Only the CLI calls :func:`configure_logging` (no side effects at import). It installs one
  handler on the root logger; calling it again replaces that handler instead of adding one.
- Context fields (``job_id``, ``delivery_id``, ``repo``, ``attempt``) come from
  ``extra={...}`` or from :func:`log_context`, which sets them for every record logged
  inside the ``with`` block, in this thread or task.
- Secrets never reach the output. :func:`configure_logging` redacts at two places, so no
  logger can get around it: a record factory redacts the message (after ``%`` formatting)
  and the exception of *every* record as it is made, whichever logger made it and
  whichever handler prints it (a third-party logger with handlers of its own included);
  and :class:`RedactingFilter`, on our handler, also redacts the ``extra`` fields and the
  context. What is removed is :class:`~bot.core.redaction.Redactor`'s list: the process's
  secret values, credential-shaped strings, PEM blocks, URL passwords and the secret query
  parameters of signed URLs (httpx logs the tarball redirect with its ``?token=``).
"""

import contextlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO

from bot.core.redaction import Redactor

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
        return self._redactor.redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        self.redact_record(record)
        for key, value in _extra_fields(record).items():
            setattr(record, key, self._redact_value(value))
        return True

    def redact_record(self, record: logging.LogRecord) -> None:
        """The message and the exception and stack texts (what a record has when it is made)."""
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


class _RedactingRecordFactory:
    """Wraps the process's record factory: every record is redacted as it is made."""

    def __init__(self, inner: Callable[..., logging.LogRecord], redacting: RedactingFilter):
        self.inner = inner
        self.redacting = redacting

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        # A bad format string is the handler's to report (handleError), not the caller's.
        with contextlib.suppress(Exception):
            self.redacting.redact_record(record)
        return record


def _install_record_factory(redacting: RedactingFilter) -> None:
    """Make every record redacted at birth; calling again replaces our factory, not stacks."""
    current = logging.getLogRecordFactory()
    if isinstance(current, _RedactingRecordFactory):
        current = current.inner
    logging.setLogRecordFactory(_RedactingRecordFactory(current, redacting))


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
    redacting = RedactingFilter(secrets)
    _install_record_factory(redacting)
    handler.addFilter(ContextFilter())
    handler.addFilter(redacting)
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
    return settings.secret_values()
