"""Finding the Python definition a rename names (pure: sources in, definitions out).

A definition is a module-level function, class or assigned name, a class's method or
attribute, at any depth of class nesting (``Outer.Inner.method``). Statements under
module-level ``if``/``try``/``with`` count as module level (``if TYPE_CHECKING:``); bodies of
functions never do: their names are locals, and a rename must not touch them.

A symbol is named by dotted suffix of its full name ``package.module.Class.method``:
``pkg.mod.func``, ``Class.method`` and a bare ``func`` all work, and a name matching more
than one definition is ambiguous. A ``src/`` layout works because suffixes ignore leading
folders.
"""

import ast
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    path: str  # repository-relative file
    line: int  # 1-based
    offset: int  # character offset of the name in the file (what rope wants)
    qualname: str  # e.g. "inventory.pricing.Basket.total"
    kind: str  # "function", "class", "method", "name", "attribute"

    @property
    def in_class(self) -> bool:
        return self.kind in ("method", "attribute")

    def where(self) -> str:
        return f"{self.path}:{self.line} ({self.qualname})"


def module_name(path: str) -> str:
    """``a/b/c.py`` -> ``a.b.c``; ``a/b/__init__.py`` -> ``a.b``."""
    # String operations, not PurePosixPath: this runs once per file of large repositories.
    folder, _, name = path.rpartition("/")
    dot = name.rfind(".")
    parts = [p for p in (*folder.split("/"), name[:dot] if dot > 0 else name) if p]
    if parts and parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _line_starts(source: str) -> list[int]:
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


class _Collector:
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.source = source
        self.lines = source.splitlines(keepends=True)
        self.starts = _line_starts(source)
        self.module = module_name(path)

    def char_offset(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1]
        return self.starts[line - 1] + len(text.encode()[:byte_col].decode(errors="ignore"))

    def keyword_name_offset(self, node: ast.AST, keyword: str, name: str) -> int:
        """Where ``name`` follows ``def``/``class`` on the definition's line."""
        line, col = node.lineno, node.col_offset  # type: ignore[attr-defined]
        start = self.char_offset(line, col)
        found = re.compile(rf"{keyword}\s+({re.escape(name)})\b").search(self.source, start)
        return found.start(1) if found else start

    def walk(self, body: list[ast.stmt], scope: list[str]) -> Iterator[Definition]:
        in_class = bool(scope)
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                offset = self.keyword_name_offset(node, "def", node.name)
                kind = "method" if in_class else "function"
                yield self.definition(node.lineno, offset, [*scope, node.name], kind)
            elif isinstance(node, ast.ClassDef):
                offset = self.keyword_name_offset(node, "class", node.name)
                yield self.definition(node.lineno, offset, [*scope, node.name], "class")
                yield from self.walk(node.body, [*scope, node.name])
            elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for name in _assigned_names(target):
                        offset = self.char_offset(name.lineno, name.col_offset)
                        kind = "attribute" if in_class else "name"
                        yield self.definition(name.lineno, offset, [*scope, name.id], kind)
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
                for block in ("body", "orelse", "finalbody"):
                    yield from self.walk(getattr(node, block, []), scope)
                for handler in getattr(node, "handlers", []):
                    yield from self.walk(handler.body, scope)

    def definition(self, line: int, offset: int, names: list[str], kind: str) -> Definition:
        qualname = ".".join(n for n in [self.module, *names] if n)
        return Definition(self.path, line, offset, qualname, kind)


def _assigned_names(target: ast.expr) -> Iterator[ast.Name]:
    if isinstance(target, ast.Name):
        yield target
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _assigned_names(element)


def definitions_in(path: str, source: str, tree: ast.Module | None = None) -> list[Definition]:
    """Every definition of one module; the first one wins when a name is defined twice.

    ``tree`` is the module's parse when the caller has it already.
    """
    tree = tree if tree is not None else ast.parse(source, filename=path)
    first: dict[str, Definition] = {}
    for definition in _Collector(path, source).walk(tree.body, []):
        first.setdefault(definition.qualname, definition)
    return list(first.values())


def suffix_matches(qualname: str, name: str) -> bool:
    return qualname == name or qualname.endswith("." + name)


def all_definitions(
    modules: Mapping[str, str], trees: Mapping[str, ast.Module | None] | None = None
) -> list[Definition]:
    """Every definition of every module, in file and line order.

    ``trees`` holds parses the caller already made (None for a module that does not parse).
    Modules that do not parse are skipped (rope would refuse to rename through them anyway).
    """
    found: list[Definition] = []
    for path in sorted(modules):
        tree = trees.get(path) if trees is not None else None
        if trees is not None and path in trees and tree is None:
            continue
        try:
            found.extend(definitions_in(path, modules[path], tree))
        except SyntaxError:
            continue
    return found


def named(definitions: Sequence[Definition], name: str) -> list[Definition]:
    """The definitions whose full dotted name ends with ``name``."""
    return [d for d in definitions if suffix_matches(d.qualname, name)]


def similar(definitions: Sequence[Definition], name: str, limit: int = 5) -> list[Definition]:
    """Definitions whose name looks like ``name`` (typos, other case), best first."""
    last = name.rpartition(".")[2]
    by_short: dict[str, list[Definition]] = {}
    for definition in definitions:
        by_short.setdefault(definition.qualname.rpartition(".")[2], []).append(definition)
    close = difflib.get_close_matches(last, list(by_short), n=limit, cutoff=0.6)
    close += [s for s in by_short if s.lower() == last.lower() and s not in close]
    return [d for short in close for d in by_short[short]][:limit]
