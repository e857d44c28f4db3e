"""References to a name in the doctests of a Python file (pure: source in, spans out).

A doctest example is a ``>>>`` line and the ``...`` lines right after it (a ``...`` line
anywhere else is expected output, e.g. a traceback's ellipsis), inside any string literal
of the file: docstrings, and ``__test__`` strings, which ``pytest --doctest-modules`` runs
too. Each example is parsed with ``ast``; an example that does not parse is skipped. Expected
output is never looked at: it is what the code prints, not code.

Three kinds of reference are reported, and the caller decides which name the symbol:

- ``name``: the bare name (``old(3)``); ``bound_from`` is the module of an earlier
  ``from X import old`` in the same string, else None (the module's own global);
- ``attribute``: ``a.b.old``; ``chain`` is ``("a", "b")`` with ``import a as b`` aliases of
  the same string expanded, or empty when the object is not a plain dotted name;
- ``import``: the name in ``from X import old``; ``chain`` holds X's dotted parts.

Keyword arguments (``f(old=1)``) are not references. Offsets are character offsets into
the file's text.
"""

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass

_PROMPT = re.compile(r"^([ \t]*)(>>>|\.\.\.)( |$)")


@dataclass(frozen=True)
class DoctestReference:
    start: int
    end: int
    line: int  # 1-based line in the file
    kind: str  # "name", "attribute" or "import"
    chain: tuple[str, ...] = ()
    bound_from: str | None = None


@dataclass(frozen=True)
class _Example:
    code: str
    starts: list[int]  # file offset where each code line starts (after its prompt)
    line: int  # file line of the ">>>" line


def _string_spans(source: str) -> Iterator[tuple[int, int, int]]:
    """(start offset, end offset, first line) of every string literal that holds ``>>>``.

    ``ast`` finds them (in C, much faster than ``tokenize``); a file that does not parse
    has none.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return
    lines = source.splitlines(keepends=True)
    starts = [0]
    for text in lines:
        starts.append(starts[-1] + len(text))

    def offset(line: int, byte_col: int) -> int:
        return starts[line - 1] + len(lines[line - 1].encode()[:byte_col].decode(errors="ignore"))

    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and ">>>" in node.value
            and node.end_lineno is not None
        ):
            start = offset(node.lineno, node.col_offset)
            end = offset(node.end_lineno, node.end_col_offset or 0)
            yield start, end, node.lineno


def _examples(source: str, start: int, end: int, first_line: int) -> Iterator[_Example]:
    """The examples of one string literal: a ``>>>`` line and the ``...`` lines after it."""
    offset, line = start, first_line
    code: list[str] = []
    starts: list[int] = []
    indent, opened = "", 0
    for text in source[start:end].splitlines(keepends=True):
        found = _PROMPT.match(text)
        continues = found and found.group(2) == "..." and code and found.group(1) == indent
        if found and (found.group(2) == ">>>" or continues):
            if found.group(2) == ">>>":
                if code:
                    yield _Example("".join(code), starts, opened)
                code, starts, indent, opened = [], [], found.group(1), line
            code.append(text[found.end() :].rstrip("\r\n") + "\n")
            starts.append(offset + found.end())
        elif code:
            yield _Example("".join(code), starts, opened)
            code, starts = [], []
        offset += len(text)
        line += 1
    if code:
        yield _Example("".join(code), starts, opened)


def _dotted(node: ast.expr) -> tuple[str, ...] | None:
    if isinstance(node, ast.Name):
        return (node.id,)
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return (*inner, node.attr) if inner is not None else None
    return None


class _Resolver:
    """Character offsets for ast positions inside one example (whose columns are UTF-8 bytes)."""

    def __init__(self, example: _Example) -> None:
        self.example = example
        self.lines = example.code.splitlines()

    def span(self, lineno: int, start_col: int, name: str) -> tuple[int, int] | None:
        text = self.lines[lineno - 1]
        column = len(text.encode()[:start_col].decode(errors="ignore"))
        at = text.find(name, column)
        if at < 0:
            return None
        offset = self.example.starts[lineno - 1] + at
        return offset, offset + len(name)


def doctest_references(source: str, name: str) -> list[DoctestReference]:
    """Every reference to ``name`` in the file's doctest examples, in file order."""
    found: list[DoctestReference] = []
    if name not in source or ">>>" not in source:
        return found
    for start, end, first_line in _string_spans(source):
        # What earlier examples of the same string imported: doctests share their globals.
        aliases: dict[str, tuple[str, ...]] = {}
        bound_from: str | None = None
        for example in _examples(source, start, end, first_line):
            try:
                tree = ast.parse(example.code)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.asname:
                            aliases[alias.asname] = tuple(alias.name.split("."))
                elif (
                    isinstance(node, ast.ImportFrom)
                    and node.level == 0
                    and node.module
                    and any(a.name == name and a.asname in (None, name) for a in node.names)
                ):
                    bound_from = node.module
            found.extend(_references(tree, name, _Resolver(example), aliases, bound_from))
    return sorted(found, key=lambda r: r.start)


def _references(
    tree: ast.Module,
    name: str,
    resolver: _Resolver,
    aliases: dict[str, tuple[str, ...]],
    bound_from: str | None,
) -> Iterator[DoctestReference]:
    def reference(
        lineno: int, col: int, kind: str, chain: tuple[str, ...] = ()
    ) -> Iterator[DoctestReference]:
        span = resolver.span(lineno, col, name)
        if span is not None:
            line = resolver.example.line + lineno - 1
            yield DoctestReference(span[0], span[1], line, kind, chain, bound_from)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id == name:
            yield from reference(node.lineno, node.col_offset, "name")
        elif isinstance(node, ast.Attribute) and node.attr == name and node.end_lineno:
            chain = _dotted(node.value) or ()
            if chain and chain[0] in aliases:
                chain = (*aliases[chain[0]], *chain[1:])
            # The attribute's name ends the node.
            end_col = node.end_col_offset or 0
            start_col = end_col - len(name.encode())
            text = resolver.lines[node.end_lineno - 1].encode()
            if start_col >= 0 and text[start_col:end_col] == name.encode():
                yield from reference(node.end_lineno, start_col, "attribute", chain)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if alias.name == name and alias.asname in (None, name):
                    chain = tuple(node.module.split("."))
                    yield from reference(alias.lineno, alias.col_offset, "import", chain)
