"""Secret scanning of a proposal's diff, before it is stored (pure).

The runner calls :func:`refuse_secrets` on the diff git computed, before
``store_proposal``: a diff that *adds* a secret is refused with reason ``secret_in_diff``
and is never stored, so no event, report, plan comment or pull request can show it.

What counts as a secret:

- a value of this server (``Settings.secret_values_by_kind``, plus the values of variables
  passed to the agent by name), found verbatim. A multi-line value (a PEM key) is also
  found line by line, so one line of the key pasted into a file is enough. Values shorter
  than :data:`~bot.core.redaction.MIN_SECRET_LENGTH` are ignored;
- anything shaped like a credential (:mod:`bot.core.credentials`).

Where it looks: every added line of every text hunk, the new content of binary files
(``literal`` blocks inflated; ``delta`` blocks inflated, which holds the inserted bytes),
and every file name the diff gives. Removed and context lines are the base's, which is
already public.

The refusal names the file, the line of the new file and the kind ("a GitHub token", "the
webhook secret"), never the value. A file name that itself holds a secret is not named.
"""

import base64
import binascii
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from bot.core.credentials import shapes_in
from bot.core.errors import AgentFailed
from bot.core.redaction import MIN_SECRET_LENGTH, REDACTED

# What a refusal calls each kind.
KIND_NAMES = {
    "github_token": "a GitHub token",
    "github_pat": "a GitHub fine-grained token",
    "private_key": "a private key",
    "aws_access_key": "an AWS access key",
    "jwt": "a JSON Web Token",
    "slack_token": "a Slack token",
    "slack_webhook": "a Slack webhook URL",
    "webhook_secret": "this server's webhook secret",
    "app_private_key": "a line of this server's GitHub App private key",
    "database": "this server's database URL or password",
    "agent_variable": "the value of a variable passed to the agent",
}
# A refusal lists this many findings, then counts the rest.
MAX_LISTED = 5
# Inflating a binary block stops here; a deflate bomb does not get to fill memory.
MAX_INFLATED_BYTES = 64 * 1024 * 1024
# A line of a known multi-line secret (a PEM body line) this long is distinctive alone.
MIN_SECRET_LINE = 16

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_BINARY_BLOCK = re.compile(r"^(literal|delta) (\d+)$")


@dataclass(frozen=True)
class Finding:
    """A secret the diff adds: where (``line`` is None for a file name or binary file)."""

    path: str
    line: int | None
    kind: str

    def describe(self) -> str:
        if self.path == REDACTED:
            name = "a file whose name holds a secret"
            where = name if self.line is None else f"line {self.line} of {name}"
        else:
            where = f"`{self.path}`" if self.line is None else f"`{self.path}` line {self.line}"
        return f"{where} ({KIND_NAMES.get(self.kind, self.kind)})"


class SecretScanner:
    """Finds server secrets (given by kind) and credential shapes in added diff text."""

    def __init__(self, known: Mapping[str, Iterable[str]] | None = None) -> None:
        by_value: dict[str, str] = {}
        for kind, values in (known or {}).items():
            for value in values:
                for piece in _pieces(value):
                    by_value.setdefault(piece, kind)
        self._kind_of = by_value
        # Longest first, so that a value containing another is reported as itself.
        ordered = sorted(by_value, key=len, reverse=True)
        self._known = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def scan_text(self, text: str) -> list[str]:
        """The kinds of secret in ``text`` (one line, or a file's whole text), in order."""
        kinds = []
        if self._known is not None:
            kinds += [self._kind_of[m.group()] for m in self._known.finditer(text)]
        kinds += shapes_in(text)
        return kinds

    def redact_name(self, name: str) -> str:
        """A file name fit for a refusal: itself, or a marker if it holds a secret."""
        return REDACTED if self.scan_text(name) else name

    def scan_diff(self, diff: str) -> list[Finding]:
        """Every secret the diff adds, in diff order (one finding per kind per line)."""
        if "GIT binary patch" not in diff and not self.scan_text(diff):
            return []  # the usual case, at the speed of one regex pass over the diff
        findings: list[Finding] = []
        for path, line, text in _added(diff):
            shown = self.redact_name(path)
            if shown != path and line is None:
                findings += [Finding(REDACTED, None, kind) for kind in self.scan_text(path)]
                continue
            for kind in dict.fromkeys(self.scan_text(text)):
                findings.append(Finding(shown, line, kind))
        return list(dict.fromkeys(findings))


def refuse_secrets(diff: str, known: Mapping[str, Iterable[str]] | None = None) -> None:
    """Raise ``AgentFailed(secret_in_diff)`` naming where, if the diff adds a secret."""
    findings = SecretScanner(known).scan_diff(diff)
    if not findings:
        return
    listed = "; ".join(finding.describe() for finding in findings[:MAX_LISTED])
    more = len(findings) - MAX_LISTED
    extra = f"; and {more} more" if more > 0 else ""
    raise AgentFailed(
        f"The agent's change adds a secret, so it was not kept: {listed}{extra}.",
        reason_code="secret_in_diff",
    )


def _pieces(value: str) -> list[str]:
    """What to look for of one known secret: itself, and each long line of a multi-line one."""
    pieces = [value] if len(value) >= MIN_SECRET_LENGTH else []
    if "\n" in value.strip():
        pieces += [
            line.strip()
            for line in value.splitlines()
            if len(line.strip()) >= MIN_SECRET_LINE and not line.startswith("-----")
        ]
    return pieces


def _added(diff: str) -> Iterator[tuple[str, int | None, str]]:
    """``(path, new line number, text)`` for every added line; ``(path, None, text)`` for
    a file name and for the new content of a binary file."""
    path = ""
    new_line = 0
    old_left = new_left = 0  # lines of the current hunk still to come
    lines = iter(diff.split("\n"))
    for raw in lines:
        if old_left > 0 or new_left > 0:
            marker, text = raw[:1], raw[1:]
            if marker == "+":
                yield path, new_line, text
                new_line += 1
                new_left -= 1
            elif marker == "-":
                old_left -= 1
            elif marker == "\\":
                pass  # "\ No newline at end of file"
            else:  # context (git writes " "; an empty line is a context line whose text was cut)
                new_line += 1
                old_left -= 1
                new_left -= 1
            continue
        if raw.startswith("diff --git "):
            path = _header_path(raw[len("diff --git ") :])
            yield path, None, raw
        elif raw.startswith(("+++ ", "rename to ", "copy to ")):
            name = raw.split(" ", 2)[-1] if not raw.startswith("+++ ") else raw[4:]
            if name != "/dev/null":
                path = _strip_prefix(name)
                yield path, None, name
        elif hunk := _HUNK.match(raw):
            old_left = int(hunk[1]) if hunk[1] is not None else 1
            new_line = int(hunk[2])
            new_left = int(hunk[3]) if hunk[3] is not None else 1
        elif raw == "GIT binary patch":
            yield path, None, _binary_text(lines)


def _header_path(rest: str) -> str:
    """The new name in ``a/NAME b/NAME`` (git repeats the name when nothing was renamed)."""
    if rest.startswith('"'):
        close = rest.find('" ', 1)
        return _strip_prefix(rest[close + 2 :] if close > 0 else rest)
    half = (len(rest) - 1) // 2
    if rest[half : half + 1] == " " and rest[2:half] == rest[half + 3 :]:
        return rest[half + 3 :]
    return _strip_prefix(rest.rsplit(" ", 1)[-1])


def _strip_prefix(name: str) -> str:
    if name.startswith('"b/') or name.startswith('"a/'):
        return '"' + name[3:]
    if name.startswith(("b/", "a/")):
        return name[2:]
    return name


def _binary_text(lines: Iterator[str]) -> str:
    """The forward block of a ``GIT binary patch`` inflated, as text; the lines it spans are
    consumed (the reverse block, the base's bytes, is skipped)."""
    header = next(lines, "")
    block = _BINARY_BLOCK.match(header)
    encoded: list[str] = []
    for raw in lines:
        if not raw:
            break
        encoded.append(raw)
    for raw in lines:  # the reverse block, up to its blank line
        if not raw:
            break
    if block is None:
        return ""
    data = b"".join(_base85_line(line) for line in encoded)
    try:
        inflated = zlib.decompressobj().decompress(data, MAX_INFLATED_BYTES)
    except zlib.error:
        return ""
    return inflated.decode("utf-8", "replace")


def _base85_line(line: str) -> bytes:
    """One line of git's base85: a length letter (A-Z 1-26, a-z 27-52), then the data."""
    if not line:
        return b""
    size = ord(line[0]) - (ord("A") - 1 if line[0] <= "Z" else ord("a") - 27)
    try:
        return base64.b85decode(line[1:])[:size]
    except (ValueError, binascii.Error):
        return b""
