"""Comment commands: a pure parser from a comment's text to one typed command.

Grammar (``PREFIX`` is ``settings.command_prefix``, ``/farcaster`` by default; a mention of
the App, ``@<github_app_slug>`` or ``@<slug>[bot]``, works the same)::

    PREFIX rename OLD NEW [--path GLOB]... [--base BRANCH]
    PREFIX replace PATTERN REPLACEMENT [--path GLOB]... [--regex] [--base BRANCH]
    PREFIX run [--base BRANCH] AGENT INSTRUCTION...
    PREFIX plan rename|replace|run ...
    PREFIX apply JOB | retry JOB | cancel JOB
    PREFIX status [JOB]
    PREFIX refresh [--force]          (on a proposal's pull request)
    PREFIX help

Which line is the command:

- The first line that starts with the prefix or the mention (after at most three spaces,
  case-insensitive, followed by a space or the end of the line) wins; later ones are ignored.
- A line inside a fenced code block (```` ``` ```` or ``~~~``), an indented code line (four
  spaces or a tab), a quote (``>``, and the lines of that paragraph continuing it) is not a
  command: people quote and document commands, and that must not run them. A command shown
  in an inline code span never starts its line, so it is not one either.
- Text the reader cannot see, or sees as code, is not a command either: an HTML comment
  (``<!-- … -->``, to the end of the comment when it is never closed, as GitHub hides it) and
  the inside of ``<pre>`` and ``<code>`` elements, on one line or across several.

Arguments are split like a POSIX shell (shlex: single or double quotes group words), with two
differences that suit patterns: a backslash is an ordinary character, and ``#`` starts no
comment. Options take ``--opt VALUE`` or ``--opt=VALUE``; ``--`` ends the options. The
instruction of ``run`` is the rest of the line as written (quotes kept), so an apostrophe
needs no escaping.

The parser never raises: anything it cannot understand becomes an :class:`InvalidCommand`
carrying the reason, which intake answers with the help text. Parsed commands are frozen
pydantic models; :meth:`JobCommandBase.contract` gives the command JSON stored on the job.
"""

import re
import shlex
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_COMMAND_LINE = 4000

_JOB_ID = re.compile(r"^[0-9A-Za-z_-]{4,40}$")
_AGENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_BRANCH = re.compile(r"^(?!-)(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)[A-Za-z0-9._/+-]{1,255}(?<![/.])$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")
_BLANK = re.compile(r"^\s*$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_HIDDEN_OPEN = re.compile(r"<!--|<(pre|code)(?=[\s>/])[^>]*>", re.IGNORECASE)
_HIDDEN_CLOSE = {"<!--": re.compile(r"-->"), "pre": re.compile(r"</pre\s*>", re.IGNORECASE)}
_HIDDEN_CLOSE["code"] = re.compile(r"</code\s*>", re.IGNORECASE)


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JobCommandBase(_Command):
    """A command that creates a job. ``model_dump(mode="json")`` is the job command JSON."""

    base: str | None = None

    def job_agent(self) -> str:
        """``job.agent``: the built-in agent of the same name, or the named command agent."""
        raise NotImplementedError

    def contract(self) -> dict[str, Any]:
        """The job command JSON (``job.command``) that runners and the interpreter read."""
        return self.model_dump(mode="json")


class RenameCommand(JobCommandBase):
    name: Literal["rename"] = "rename"
    old: str
    new: str
    paths: tuple[str, ...] = ()

    def job_agent(self) -> str:
        return "rename"


class ReplaceCommand(JobCommandBase):
    name: Literal["replace"] = "replace"
    pattern: str
    replacement: str
    regex: bool = False
    paths: tuple[str, ...] = ()

    def job_agent(self) -> str:
        return "replace"


class RunCommand(JobCommandBase):
    name: Literal["run"] = "run"
    agent: str
    instruction: str

    def job_agent(self) -> str:
        return self.agent


JobCommand = Annotated[RenameCommand | ReplaceCommand | RunCommand, Field(discriminator="name")]


class PlanCommand(_Command):
    """Run the inner command, post its diff, open no pull request (job ``mode="plan"``)."""

    name: Literal["plan"] = "plan"
    command: JobCommand


class ApplyCommand(_Command):
    name: Literal["apply"] = "apply"
    job: str


class RetryCommand(_Command):
    name: Literal["retry"] = "retry"
    job: str


class CancelCommand(_Command):
    name: Literal["cancel"] = "cancel"
    job: str


class StatusCommand(_Command):
    name: Literal["status"] = "status"
    job: str | None = None


class RefreshCommand(_Command):
    """On a proposal's pull request: run its command chain again on the base's head."""

    name: Literal["refresh"] = "refresh"
    force: bool = False


class HelpCommand(_Command):
    name: Literal["help"] = "help"


class InvalidCommand(_Command):
    """An unknown command or bad arguments: ``error`` says what, for the help reply."""

    name: Literal["invalid"] = "invalid"
    line: str
    error: str


Command = Annotated[
    RenameCommand
    | ReplaceCommand
    | RunCommand
    | PlanCommand
    | ApplyCommand
    | RetryCommand
    | CancelCommand
    | StatusCommand
    | RefreshCommand
    | HelpCommand
    | InvalidCommand,
    Field(discriminator="name"),
]


class _BadArguments(Exception):
    pass


# -- finding the command line -------------------------------------------------------------


def _lead(prefix: str, app_slug: str) -> list[str]:
    leads = [prefix.strip()]
    if app_slug:
        leads += [f"@{app_slug}[bot]", f"@{app_slug}"]
    return [lead.lower() for lead in leads if lead]


def _after_lead(line: str, leads: Iterable[str]) -> str | None:
    lowered = line.lower()
    for lead in leads:
        if lowered.startswith(lead):
            rest = line[len(lead) :]
            if not rest or rest[0].isspace():
                return rest.strip()
    return None


def _closes_fence(line: str, fence: str) -> bool:
    stripped = line.strip()
    return (
        len(line) - len(line.lstrip(" ")) <= 3
        and len(stripped) >= len(fence)
        and set(stripped) == {fence[0]}
    )


def _visible(line: str, hidden: str | None) -> tuple[str, str | None]:
    """The part of ``line`` a reader sees as text, and what still hides the next line.

    ``hidden`` is the element (``<!--``, ``pre`` or ``code``) left open by an earlier line.
    """
    shown: list[str] = []
    rest = line
    while rest:
        if hidden is not None:
            closing = _HIDDEN_CLOSE[hidden].search(rest)
            if closing is None:
                return "".join(shown), hidden
            rest, hidden = rest[closing.end() :], None
            continue
        opening = _HIDDEN_OPEN.search(rest)
        if opening is None:
            shown.append(rest)
            break
        shown.append(rest[: opening.start()])
        hidden = (opening.group(1) or "<!--").lower()
        rest = rest[opening.end() :]
    return "".join(shown), hidden


def find_command_line(body: str, *, prefix: str, app_slug: str) -> str | None:
    """The text after the prefix on the first line that is a command, or None."""
    leads = _lead(prefix, app_slug)
    fence: str | None = None
    hidden: str | None = None
    in_quote = False
    for raw in body.splitlines():
        line, hidden_after = _visible(raw, hidden)
        was_hidden, hidden = hidden, hidden_after
        if was_hidden is not None and not line.strip():
            continue  # wholly inside a comment or a code element
        if fence is not None:
            if _closes_fence(line, fence):
                fence = None
            continue
        opening = _FENCE_OPEN.match(line)
        # A backtick "fence" whose info string holds a backtick is an inline code span.
        if opening and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            fence = opening.group(1)
            in_quote = False
            continue
        if _BLANK.match(line):
            in_quote = False
            continue
        stripped = line.lstrip(" ")
        if len(line) - len(stripped) > 3 or stripped.startswith("\t"):
            continue  # an indented code line, or a continuation of something else
        if stripped.startswith(">"):
            in_quote = True
            continue
        if in_quote:
            continue  # a lazy continuation line: rendered inside the quote above it
        rest = _after_lead(stripped, leads)
        if rest is not None:
            return rest
    return None


def parse_comment(body: str, *, prefix: str, app_slug: str) -> Command | None:
    """The comment's command, or None when it holds no command line at all."""
    text = find_command_line(body, prefix=prefix, app_slug=app_slug)
    if text is None:
        return None
    return parse_command(text)


# -- parsing one command ------------------------------------------------------------------


def parse_command(text: str) -> Command:
    """Parse what follows the prefix; never raises."""
    if len(text) > MAX_COMMAND_LINE:
        return InvalidCommand(
            line=text[:200] + "…",
            error=f"the command line is longer than {MAX_COMMAND_LINE} characters",
        )
    if not text:
        return HelpCommand()
    if _CONTROL.search(text):
        # NUL and friends: never meant, and PostgreSQL text cannot even hold NUL.
        return InvalidCommand(
            line=_CONTROL.sub("?", text), error="the command holds control characters"
        )
    try:
        return _parse(text)
    except _BadArguments as exc:
        return InvalidCommand(line=text, error=str(exc))


def _parse(text: str) -> Command:
    word, rest = _first_word(text)
    verb = word.lower()
    if verb in ("rename", "replace", "run"):
        return _parse_job_command(verb, rest)
    if verb == "plan":
        inner_word, inner_rest = _first_word(rest)
        inner = inner_word.lower()
        if inner not in ("rename", "replace", "run"):
            raise _BadArguments("plan takes a rename, replace or run command")
        return PlanCommand(command=_parse_job_command(inner, inner_rest))
    if verb in ("apply", "retry", "cancel"):
        job = _single_job(verb, _split(rest))
        if verb == "apply":
            return ApplyCommand(job=job)
        if verb == "retry":
            return RetryCommand(job=job)
        return CancelCommand(job=job)
    if verb == "status":
        words = _split(rest)
        if not words:
            return StatusCommand()
        return StatusCommand(job=_single_job(verb, words))
    if verb == "refresh":
        words = _split(rest)
        if words not in ([], ["--force"]):
            raise _BadArguments("refresh takes nothing but --force")
        return RefreshCommand(force=bool(words))
    if verb == "help":
        return HelpCommand()
    raise _BadArguments(f"there is no command {word!r}")


def _parse_job_command(verb: str, rest: str) -> RenameCommand | ReplaceCommand | RunCommand:
    if verb == "run":
        return _parse_run(rest)
    positionals, options = _options(
        _split(rest),
        single={"--base"},
        multi={"--path"},
        flags={"--regex"} if verb == "replace" else set(),
    )
    paths = tuple(_glob(p) for p in options.get("--path", []))
    base = _branch(options["--base"][0]) if "--base" in options else None
    if verb == "rename":
        if len(positionals) != 2:
            raise _BadArguments("rename takes OLD and NEW, two names")
        old, new = positionals
        for name in (old, new):
            if not name or any(ch.isspace() for ch in name):
                raise _BadArguments(f"{name!r} is not a name")
        if old == new:
            raise _BadArguments("OLD and NEW are the same name")
        return RenameCommand(old=old, new=new, paths=paths, base=base)
    if len(positionals) != 2:
        raise _BadArguments(
            "replace takes PATTERN and REPLACEMENT (quote them if they hold spaces)"
        )
    pattern, replacement = positionals
    regex = "--regex" in options
    if not pattern:
        raise _BadArguments("PATTERN is empty")
    if regex:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise _BadArguments(f"PATTERN is not a valid regular expression ({exc})") from None
    elif pattern == replacement:
        raise _BadArguments("PATTERN and REPLACEMENT are the same text")
    return ReplaceCommand(
        pattern=pattern, replacement=replacement, regex=regex, paths=paths, base=base
    )


def _parse_run(rest: str) -> RunCommand:
    """``run [--base B] AGENT [--base B] INSTRUCTION...``: the instruction is kept as written."""
    base: str | None = None
    agent: str | None = None
    remaining = rest.strip()
    while remaining:
        word, after = _first_word(remaining)
        if word == "--base" or word.startswith("--base="):
            if base is not None:
                raise _BadArguments("--base is given twice")
            if word == "--base":
                value, after = _first_word(after)
            else:
                value = word.split("=", 1)[1]
            base = _branch(value)
        elif agent is None:
            if not _AGENT.match(word):
                raise _BadArguments(f"{word!r} is not an agent name")
            agent = word
        else:
            break
        remaining = after
    if agent is None:
        raise _BadArguments("run takes AGENT and an INSTRUCTION")
    instruction = _unquote(remaining)
    if not instruction:
        raise _BadArguments(f"run {agent} needs an INSTRUCTION")
    return RunCommand(agent=agent, instruction=instruction, base=base)


def _first_word(text: str) -> tuple[str, str]:
    """The first whitespace-separated word and the rest, both stripped."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].strip()
    return text


def _split(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""  # backslashes are literal: regular expressions need them
    try:
        return list(lexer)
    except ValueError as exc:  # "No closing quotation"
        raise _BadArguments(f"the arguments do not parse: {str(exc).lower()}") from None


def _options(
    words: list[str], *, single: set[str], multi: set[str], flags: set[str]
) -> tuple[list[str], dict[str, list[str]]]:
    positionals: list[str] = []
    options: dict[str, list[str]] = {}
    items = iter(words)
    for word in items:
        if word == "--":
            positionals.extend(items)
            break
        if not word.startswith("--"):
            positionals.append(word)
            continue
        name, has_value, value = word.partition("=")
        if name in flags:
            if has_value:
                raise _BadArguments(f"{name} takes no value")
            options[name] = []
            continue
        if name not in single | multi:
            raise _BadArguments(f"unknown option {name}")
        if not has_value:
            following = next(items, None)
            if following is None:
                raise _BadArguments(f"{name} needs a value")
            value = following
        if name in single and name in options:
            raise _BadArguments(f"{name} is given twice")
        options.setdefault(name, []).append(value)
    return positionals, options


def _single_job(verb: str, words: list[str]) -> str:
    if len(words) != 1:
        raise _BadArguments(f"{verb} takes one JOB id")
    job = words[0]
    if not _JOB_ID.match(job):
        raise _BadArguments(f"{job!r} is not a job id (at least four characters of it)")
    return job


def _branch(value: str) -> str:
    if not _BRANCH.match(value) or value.endswith(".lock"):
        raise _BadArguments(f"{value!r} is not a branch name")
    return value


def _glob(value: str) -> str:
    if not value or value.startswith("/") or ".." in value.split("/"):
        raise _BadArguments(f"--path {value!r} must be a glob relative to the repository root")
    return value


# -- help ---------------------------------------------------------------------------------


def help_text(prefix: str) -> str:
    """The help reply, with the configured prefix."""
    p = prefix.strip()
    return "\n".join(
        [
            "Farcaster turns a comment into one pull request. Commands (one per comment, "
            "on a line of its own):",
            "",
            "```",
            f"{p} rename OLD NEW [--path GLOB] [--base BRANCH]",
            f"{p} replace PATTERN REPLACEMENT [--path GLOB] [--regex] [--base BRANCH]",
            f"{p} run AGENT INSTRUCTION...",
            f"{p} plan rename|replace|run ...   (post the diff, open no pull request)",
            f"{p} apply JOB                      (open the pull request of a plan)",
            f"{p} retry JOB",
            f"{p} cancel JOB",
            f"{p} status [JOB]",
            f"{p} refresh [--force]             (on a proposal's PR: redo it on its base)",
            f"{p} help",
            "```",
            "",
            "Quote arguments that hold spaces. Backslashes are kept as typed. Only people with "
            "write access to the repository can start or change jobs.",
        ]
    )
