"""The ``replace`` agent: literal or regular-expression replacement over chosen text files.

Command: ``{"name": "replace", "pattern": str, "replacement": str, "regex": bool,
"paths": [glob, ...]}``. Text files only: binary and non-UTF-8 files are skipped, and so
are links and ``.git``. A regular expression runs in multi-line mode (``^`` and ``$``
match at every line) and the replacement may use ``\\1`` or ``\\g<name>``. Line endings and
every byte outside the matches are kept as they were.

Regular expressions run on RE2 (google-re2), whose time is linear in the text: a pattern
like ``(\\w|\\w\\w)*;`` cannot backtrack for hours. RE2 has no backreferences (``\\1`` in
the pattern), lookarounds (``(?=``, ``(?<!``) or repetition counts over 1000; a pattern
that Python's ``re`` accepts but RE2 cannot run is refused as ``unsupported_regex``, one that
neither accepts as ``bad_instruction``. (The agent also runs out of process, in the
sandbox: see builtin.py.)
"""

import re
from collections.abc import Callable
from typing import Any

import re2

from bot.agents.base import AgentRequest, AgentResult, command_paths, command_text
from bot.agents.paths import read_text, repository_files
from bot.core.errors import AgentFailed
from bot.core.globs import selected


def make_substitution(
    pattern: str, replacement: str, *, regex: bool
) -> Callable[[str], tuple[str, int]]:
    """A function from text to (new text, number of replacements); bad input is refused."""
    if not regex:
        literal = pattern

        def replace_literal(text: str) -> tuple[str, int]:
            count = text.count(literal)
            return (text.replace(literal, replacement), count) if count else (text, 0)

        return replace_literal
    compiled = compile_linear(pattern)

    def replace_regex(text: str) -> tuple[str, int]:
        # A bad template (\3 with two groups) shows at the first match; the scratch
        # checkout is thrown away with the failed attempt, so a half-done pass is harmless.
        try:
            result: tuple[str, int] = compiled.subn(replacement, text)
            return result
        except (re2.error, re.error, IndexError) as exc:
            raise AgentFailed(
                f"The replacement {replacement!r} does not fit the pattern {pattern!r}: {exc}.",
                reason_code="bad_instruction",
            ) from None

    return replace_regex


def compile_linear(pattern: str) -> Any:
    """``pattern`` compiled by RE2 in multi-line mode; refused with a reason when it cannot be."""
    options = re2.Options()
    options.log_errors = False  # absl would print each refusal to stderr
    try:
        return re2.compile(f"(?m){pattern}", options)
    except re2.error as exc:
        said = exc.args[0].decode(errors="replace") if exc.args else "refused"
    try:
        re.compile(pattern)
    except re.error as exc:
        raise AgentFailed(
            f"The pattern {pattern!r} is not a valid regular expression: {exc}.",
            reason_code="bad_instruction",
        ) from None
    raise AgentFailed(
        f"The pattern {pattern!r} uses what the linear-time regex engine (RE2) cannot run "
        f"({said}): no backreferences, lookarounds or repetition counts over 1000.",
        reason_code="unsupported_regex",
    )


class ReplaceAgent:
    name = "replace"
    version = "1"
    wants_git = False

    def run(self, request: AgentRequest) -> AgentResult:
        command = request.command
        pattern = command_text(command, "pattern")
        replacement = command.get("replacement", "")
        if not isinstance(replacement, str):
            raise AgentFailed("The replacement must be text.", reason_code="bad_instruction")
        substitute = make_substitution(pattern, replacement, regex=bool(command.get("regex")))
        globs = command_paths(command)
        lines = []
        scanned = changed = total = 0
        for relative in repository_files(request.checkout):
            request.check_stop()
            if not selected(relative, globs):
                continue
            path = request.checkout / relative
            text = read_text(path)
            if text is None:
                continue
            scanned += 1
            new_text, count = substitute(text)
            if count and new_text != text:
                path.write_bytes(new_text.encode("utf-8"))
                changed += 1
                total += count
                lines.append(f"{relative}: {count} replacement{'s' if count != 1 else ''}")
        lines.append(f"{total} replacements in {changed} of {scanned} text files.")
        return AgentResult(
            log=request.redactor.clean("\n".join(lines), request.limits.max_log_bytes)
        )
