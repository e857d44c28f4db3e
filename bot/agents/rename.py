"""The ``rename`` agent: a Python symbol and every reference to it, across the repository.

Command: ``{"name": "rename", "old": str, "new": str, "paths": [glob, ...]}``. ``old`` names
a module-level function, class or name, or a method or class attribute, by any dotted
suffix of its full name (``pkg.mod.func``, ``Class.method``, ``func``; see symbols.py).
The rename itself is done by rope, which follows imports (``from a import f``,
``import a; a.f()``) and scopes (a local variable of the same name elsewhere is a different
name and stays). ``paths`` limits the files whose references change.

For a method or class attribute, rope cannot always tell the type of ``obj`` in
``obj.total()``; such *unsure* references with the same name are renamed too (that is what
keeps callers working) and listed in the log with their lines, so a reviewer can check
them. Methods are renamed through the class hierarchy, so overrides keep overriding.
"""

import keyword
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import rope
from rope.base import exceptions as rope_errors
from rope.base.fscommands import FileSystemCommands
from rope.base.project import Project
from rope.base.taskhandle import TaskHandle
from rope.refactor.occurrences import Occurrence
from rope.refactor.rename import Rename

from bot.agents.base import AgentRequest, AgentResult, command_paths, command_text
from bot.agents.paths import read_text, repository_files, selected
from bot.agents.symbols import Definition, all_definitions, named, similar
from bot.core.errors import AgentFailed, LeaseLost

# Shown per ambiguity or unknown name, so a message stays one screen long.
MAX_LISTED = 10
WATCH_INTERVAL = 0.05


def new_identifier(old: str, new: str) -> str:
    """The new bare name. ``new`` may repeat ``old``'s dotted prefix (``a.f`` -> ``a.g``)."""
    prefix, _, short = new.rpartition(".")
    if prefix and prefix != old.rpartition(".")[0]:
        raise AgentFailed(
            f"The new name {new!r} must be a plain name (a rename does not move {old!r}).",
            reason_code="bad_instruction",
        )
    if not short.isidentifier() or keyword.iskeyword(short):
        raise AgentFailed(
            f"The new name {short!r} is not a valid Python identifier.",
            reason_code="bad_instruction",
        )
    if short == old.rpartition(".")[2]:
        raise AgentFailed(f"{old!r} already has the name {short!r}.", reason_code="bad_instruction")
    return short


def _listing(definitions: list[Definition]) -> str:
    listed = "; ".join(d.where() for d in definitions[:MAX_LISTED])
    more = f" and {len(definitions) - MAX_LISTED} more" if len(definitions) > MAX_LISTED else ""
    return listed + more


def choose_definition(definitions: list[Definition], old: str) -> Definition:
    """The one definition ``old`` names; unknown or ambiguous names are refused, with candidates."""
    candidates = named(definitions, old)
    exact = [d for d in candidates if d.qualname == old]
    if len(exact) == 1:
        return exact[0]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        near = similar(definitions, old)
        hint = f" Similar names: {_listing(near)}." if near else ""
        raise AgentFailed(
            f"No Python function, class, method or module-level name is called {old!r} "
            f"in this repository at the job's base commit.{hint}",
            reason_code="unknown_symbol",
        )
    listed = _listing(candidates)
    raise AgentFailed(
        f"{old!r} is ambiguous: it matches {listed}. Name one with more of its dotted "
        "path, e.g. module.Class.method.",
        reason_code="ambiguous_symbol",
    )


def python_sources(root: Path) -> dict[str, str]:
    sources = {}
    for relative in repository_files(root):
        if relative.endswith(".py"):
            text = read_text(root / relative)
            if text is not None:
                sources[relative] = text
    return sources


@contextmanager
def stoppable(request: AgentRequest) -> Iterator[tuple[TaskHandle, threading.Event]]:
    """A rope task handle that is stopped by the lease's stop event or by the timeout."""
    handle = TaskHandle("rename")
    timed_out = threading.Event()
    finished = threading.Event()
    deadline = time.monotonic() + request.limits.timeout

    def expired() -> bool:
        if request.stop.is_set() or time.monotonic() > deadline:
            if not request.stop.is_set():
                timed_out.set()
            handle.stop()
            return True
        return False

    def watch() -> None:
        # Two events and a deadline: wake often enough to notice any of them.
        while not finished.wait(WATCH_INTERVAL):
            if expired():
                return

    expired()  # already stopped or out of time: rope stops at its first check

    watcher = threading.Thread(target=watch, name="rename-watch", daemon=True)
    watcher.start()
    try:
        yield handle, timed_out
    finally:
        finished.set()
        watcher.join()


class RenameAgent:
    name = "rename"
    version = f"1+rope{rope.VERSION}"
    wants_git = False

    def run(self, request: AgentRequest) -> AgentResult:
        old = command_text(request.command, "old").strip()
        new = new_identifier(old, command_text(request.command, "new").strip())
        request.check_stop()
        sources = python_sources(request.checkout)
        definitions = all_definitions(sources)
        target = choose_definition(definitions, old)
        clash = f"{target.qualname.rpartition('.')[0]}.{new}"
        taken = [d for d in definitions if d.qualname == clash]
        if taken:
            raise AgentFailed(
                f"{new!r} is already defined next to {old!r}, at {taken[0].where()}.",
                reason_code="name_taken",
            )
        globs = command_paths(request.command)
        files = [p for p in sources if selected(p, globs)] if globs else None
        with stoppable(request) as (handle, timed_out):
            try:
                log = _rename(request.checkout, target, new, files, handle)
            except rope_errors.InterruptedTaskError:
                request.check_stop()
                if timed_out.is_set():
                    raise AgentFailed(
                        f"The rename ran past its {request.limits.timeout:g} s limit.",
                        reason_code="agent_timeout",
                        retryable=True,
                    ) from None
                raise LeaseLost("The rename was stopped.") from None
        return AgentResult(log=request.redactor.clean(log, request.limits.max_log_bytes))


def _rename(
    root: Path, target: Definition, new: str, files: list[str] | None, handle: TaskHandle
) -> str:
    project = Project(str(root), fscommands=FileSystemCommands(), ropefolder=None)
    unsure: list[str] = []

    def accept_unsure(occurrence: Occurrence) -> bool:
        # Only `something.name` (an attribute of an object rope could not type) is taken.
        start, _ = occurrence.get_primary_range()
        word_start, _ = occurrence.get_word_range()
        if start == word_start:
            return False
        source = occurrence.resource.read()
        unsure.append(f"{occurrence.resource.path}:{source.count(chr(10), 0, word_start) + 1}")
        return True

    try:
        resource = project.get_resource(target.path)
        renamer = Rename(project, resource, target.offset)
        resources = [project.get_resource(f) for f in files] if files is not None else None
        changes = renamer.get_changes(
            new,
            in_hierarchy=target.in_class,
            docs=False,
            unsure=accept_unsure if target.in_class else None,
            resources=resources,
            task_handle=handle,
        )
        changed = sorted(r.path for r in changes.get_changed_resources())
        project.do(changes, task_handle=handle)
    except rope_errors.ModuleSyntaxError as exc:
        raise AgentFailed(
            f"Rope could not parse {exc.filename} (line {exc.lineno}); the rename needs every "
            "Python file it reads to be valid.",
            reason_code="syntax_error",
        ) from None
    except (rope_errors.RefactoringError, rope_errors.BadIdentifierError) as exc:
        raise AgentFailed(
            f"Rope refused to rename {target.qualname}: {exc}", reason_code="rename_refused"
        ) from None
    finally:
        project.close()
    lines = [f"Renamed the {target.kind} {target.qualname} ({target.path}:{target.line}) to {new}."]
    lines += [f"changed {path}" for path in changed]
    if unsure:
        lines.append("References rope could not type-check, renamed by name (please review):")
        lines += [f"  {where}" for where in unsure]
    return "\n".join(lines)
