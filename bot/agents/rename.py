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

Strings that are code change too, so a package stays importable: ``__all__`` entries and
doctest code that name the symbol (see rename_strings.py). Other mentions in strings,
comments and non-Python files stay as they are; they are counted in a ``Note:`` line of the
log, which the reports show, and listed below it.

Cost: a byte search over the checkout finds the files that mention the old name
(prefilter.py); only those are parsed and given to rope, which reads the modules they
import on demand. Rope never imports or runs repository code (rope_project.py).
"""

import ast
import keyword
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import rope
from rope.base import exceptions as rope_errors
from rope.base.change import ChangeContents, ChangeSet
from rope.base.fscommands import unicode_to_file_data
from rope.base.taskhandle import TaskHandle
from rope.refactor.occurrences import Occurrence
from rope.refactor.rename import Rename

from bot.agents.base import AgentRequest, AgentResult, command_paths, command_text
from bot.agents.exports import Bindings, ModuleIndex
from bot.agents.mentions import count_mentions
from bot.agents.paths import read_text, repository_files
from bot.agents.prefilter import Candidates, files_mentioning
from bot.agents.rename_strings import StringEdits, apply_spans, member_edits, module_symbol_edits
from bot.agents.rope_project import open_project
from bot.agents.symbols import Definition, all_definitions, named, similar
from bot.core.errors import AgentFailed, LeaseLost
from bot.core.globs import selected

# Shown per ambiguity or unknown name, so a message stays one screen long.
MAX_LISTED = 10
# Places listed per kind in the log (mentions left alone, strings renamed).
MAX_PLACES = 50
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


@dataclass(frozen=True)
class RopeOutcome:
    changed: list[str]  # files rope changed
    unsure: list[str]  # "path:line" of references renamed by name only


class RenameAgent:
    name = "rename"
    version = f"2+rope{rope.VERSION}"
    wants_git = False

    def run(self, request: AgentRequest) -> AgentResult:
        old = command_text(request.command, "old").strip()
        new = new_identifier(old, command_text(request.command, "new").strip())
        request.check_stop()
        log = rename_symbol(request.checkout, old, new, command_paths(request.command), request)
        return AgentResult(log=request.redactor.clean(log, request.limits.max_log_bytes))


def rename_symbol(root: Path, old: str, new: str, globs: list[str], request: AgentRequest) -> str:
    """Rename ``old`` to ``new`` in the checkout at ``root``; the log says what changed."""
    cpu_started = time.process_time()
    short = old.rpartition(".")[2]
    candidates = files_mentioning(root, short)
    request.check_stop()
    trees = Parses(root, candidates)
    python = candidates.python()
    definitions = all_definitions(python, {path: trees.get(path) for path in python})
    if not named(definitions, old):
        # Only a name that is not found pays for reading every file: the hint needs them all.
        definitions = all_definitions(python_sources(root))
    target = choose_definition(definitions, old)
    clash = f"{target.qualname.rpartition('.')[0]}.{new}"
    taken = [d for d in definitions if d.qualname == clash]
    if taken:
        raise AgentFailed(
            f"{new!r} is already defined next to {old!r}, at {taken[0].where()}.",
            reason_code="name_taken",
        )
    files = [p for p in sorted(candidates.python()) if selected(p, globs)]
    with stoppable(request) as (handle, timed_out):
        try:
            outcome = _rename(root, target, new, files, handle)
        except rope_errors.InterruptedTaskError:
            request.check_stop()
            if timed_out.is_set():
                raise AgentFailed(
                    f"The rename ran past its {request.limits.timeout:g} s limit.",
                    reason_code="agent_timeout",
                    retryable=True,
                ) from None
            raise LeaseLost("The rename was stopped.") from None
    request.check_stop()
    edits = _rename_strings(root, target, new, candidates, trees, files, outcome.changed)
    after = {p: t for p, t in candidates.texts.items() if selected(p, globs)}
    for path in {*outcome.changed, *edits}:
        after[path] = read_exact(root / path)
    log = _log(target, new, candidates, files, outcome, edits, after)
    return f"{log} The rename took {time.process_time() - cpu_started:.2f} CPU s."


def read_exact(path: Path) -> str:
    """A UTF-8 file's text with its newlines as they are (``\\r\\n`` stays)."""
    return path.read_bytes().decode()


class Parses:
    """Each module's ``ast`` before the rename, parsed once (None: it does not parse).

    Files that mention the name come from the pre-filter's texts; any other module (one an
    import chain reaches) is read from the checkout, which the rename leaves unchanged.
    """

    def __init__(self, root: Path, candidates: Candidates) -> None:
        self.root = root
        self.candidates = candidates
        self.trees: dict[str, ast.Module | None] = {}

    def get(self, path: str) -> ast.Module | None:
        if path not in self.trees:
            text = self.candidates.texts.get(path)
            if text is None:
                text = read_text(self.root / path)
            try:
                self.trees[path] = ast.parse(text, filename=path) if text is not None else None
            except SyntaxError:
                self.trees[path] = None
        return self.trees[path]


def _rename_strings(
    root: Path,
    target: Definition,
    new: str,
    candidates: Candidates,
    trees: Parses,
    files: list[str],
    rope_changed: list[str],
) -> dict[str, StringEdits]:
    """Rename the symbol in ``__all__`` and doctests (rename_strings.py); what changed where."""
    short = target.qualname.rpartition(".")[2]
    bindings = Bindings(short, target.path, ModuleIndex(candidates.python_paths), trees.get)
    done: dict[str, StringEdits] = {}
    for path in files:
        text = read_exact(root / path)
        if target.in_class:
            if path not in rope_changed and path != target.path:
                continue
            edits = member_edits(path, text, short)
        else:
            edits = module_symbol_edits(path, text, bindings)
        if edits.spans:
            (root / path).write_bytes(apply_spans(text, edits.spans, new).encode())
            done[path] = edits
    return done


def _places(places: list[str]) -> str:
    more = f" and {len(places) - MAX_PLACES} more" if len(places) > MAX_PLACES else ""
    return ", ".join(places[:MAX_PLACES]) + more


def _log(
    target: Definition,
    new: str,
    candidates: Candidates,
    files: list[str],
    outcome: RopeOutcome,
    edits: dict[str, StringEdits],
    after: dict[str, str],
) -> str:
    short = target.qualname.rpartition(".")[2]
    lines = [f"Renamed the {target.kind} {target.qualname} ({target.path}:{target.line}) to {new}."]
    mentions = count_mentions(after, short)
    sentence = mentions.sentence()
    if sentence:
        lines.append(f"Note: {short} is {sentence}.")
    lines += [f"changed {path}" for path in sorted({*outcome.changed, *edits})]
    in_all = [where for e in edits.values() for where in e.in_all]
    in_doctests = [where for e in edits.values() for where in e.in_doctests]
    if in_all:
        lines.append(f"Renamed in __all__: {_places(in_all)}")
    if in_doctests:
        lines.append(f"Renamed in doctests: {_places(in_doctests)}")
    if outcome.unsure:
        lines.append("References rope could not type-check, renamed by name (please review):")
        lines += [f"  {where}" for where in outcome.unsure]
    if sentence:
        lines.append(f"Mentions left as they were (review by hand): {_places(mentions.places())}")
    lines.append(
        f"Searched {candidates.searched} files: {len(candidates.texts)} contain {short!r}, "
        f"{len(files)} Python files of them were renamed through."
    )
    return "\n".join(lines)


def _write(root: Path, changes: ChangeSet, handle: TaskHandle) -> None:
    """Write rope's new file contents, as ``project.do`` would, without its observers.

    ``project.do`` tells every cached module about every written file, so a rename through
    U files cost U² (67 s for 2,000 users); the checkout is thrown away after the run, so
    rope's caches and history need no news. Newlines stay as each file had them.
    """
    for change in changes.changes:
        if handle.is_stopped():
            raise rope_errors.InterruptedTaskError("stopped")
        if not isinstance(change, ChangeContents):
            raise AgentFailed(
                f"Rope wanted to {change.get_description()}; a rename only edits files.",
                reason_code="rename_refused",
            )
        data = unicode_to_file_data(change.new_contents, newlines=change.resource.newlines)
        (root / change.resource.path).write_bytes(data)


def _rename(
    root: Path, target: Definition, new: str, files: list[str], handle: TaskHandle
) -> RopeOutcome:
    project = open_project(root)
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
        changes = renamer.get_changes(
            new,
            in_hierarchy=target.in_class,
            docs=False,
            unsure=accept_unsure if target.in_class else None,
            resources=[project.get_resource(f) for f in files],
            task_handle=handle,
        )
        changed = sorted(r.path for r in changes.get_changed_resources())
        _write(root, changes, handle)
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
    return RopeOutcome(changed, unsure)
