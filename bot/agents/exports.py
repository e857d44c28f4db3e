"""Which modules bind a module-level symbol under its name, and the ``__all__`` entries naming it.

Rope renames code references; a package stays importable only if the *strings* that name
the symbol for Python's import system change too. A module *binds* the symbol when its
global ``old`` is that symbol:

- the module that defines it;
- a module with ``from X import old`` (relative or absolute, ``as old`` included) where X
  binds it;
- a module with ``from X import *`` where X binds it and exports it: X's literal
  ``__all__`` lists it, or X has no ``__all__`` and the name is public.

In a binding module, every ``"old"`` in a module-level ``__all__`` (``=``, ``+=``, ``:``,
``__all__.append(...)``, ``__all__.extend([...])``) is the symbol's name and is renamed. A
module that defines its own, different ``old`` does not bind the target and is left alone.

Modules are found by dotted name from the checkout's ``.py`` paths, a ``src/`` layout
included (a name matches a path's module name or a dotted suffix of it). Only the modules
an import chain reaches are read and parsed, so the cost follows the files that mention
the name, not the repository's size.
"""

import ast
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePosixPath

from bot.agents.symbols import module_name

Span = tuple[int, int]  # character offsets [start, end) in a file's text


class ModuleIndex:
    """Dotted module names to repository paths (pure: a list of ``.py`` paths in)."""

    def __init__(self, python_paths: Iterable[str]) -> None:
        self._paths = python_paths
        self._by_suffix: dict[str, list[str]] | None = None  # built on the first look-up

    def find(self, dotted: str) -> str | None:
        """The file of module ``dotted``; the one with the shortest path when several match."""
        if self._by_suffix is None:
            self._by_suffix = {}
            for path in self._paths:
                parts = module_name(path).split(".")
                for n in range(len(parts)):
                    self._by_suffix.setdefault(".".join(parts[n:]), []).append(path)
        found = self._by_suffix.get(dotted)
        return min(found, key=lambda p: (len(p), p)) if found else None

    def resolve_from(self, importer: str, module: str | None, level: int) -> str | None:
        """The file that ``from <level dots><module> import ...`` in ``importer`` names."""
        if level == 0:
            return self.find(module or "")
        package = PurePosixPath(importer).parent
        for _ in range(level - 1):
            package = package.parent
        base = module_name((package / "__init__.py").as_posix()) if package.parts else ""
        dotted = ".".join(p for p in (base, module or "") if p)
        return self.find(dotted)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, looking inside ``if``/``try``/``with`` blocks."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.Try | ast.With):
            for block in ("body", "orelse", "finalbody"):
                yield from _top_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                yield from _top_level(handler.body)


def _all_nodes(tree: ast.Module) -> Iterator[ast.expr]:
    """The literal containers or strings assigned or added to a module-level ``__all__``."""
    for node in _top_level(tree.body):
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
                yield node.value
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            target = node.target
            if isinstance(target, ast.Name) and target.id == "__all__" and node.value:
                yield node.value
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            func = node.value.func
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "__all__"
                and func.attr in ("append", "extend", "insert")
            ):
                yield from node.value.args


def _strings(node: ast.expr) -> Iterator[ast.Constant]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        for element in node.elts:
            yield from _strings(element)
    elif isinstance(node, ast.BinOp):  # ["a"] + ["b"]
        yield from _strings(node.left)
        yield from _strings(node.right)


def all_names(tree: ast.Module) -> set[str] | None:
    """The names a literal ``__all__`` lists, or None when the module has none."""
    nodes = list(_all_nodes(tree))
    if not nodes:
        return None
    return {str(s.value) for node in nodes for s in _strings(node)}


def _offset(starts: list[int], text_lines: list[str], line: int, byte_col: int) -> int:
    return starts[line - 1] + len(text_lines[line - 1].encode()[:byte_col].decode(errors="ignore"))


def all_entry_spans(source: str, tree: ast.Module, name: str) -> list[Span]:
    """Where ``name`` stands inside the quotes of a module-level ``__all__`` entry."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans = []
    for node in _all_nodes(tree):
        for string in _strings(node):
            if string.value != name or string.end_lineno != string.lineno:
                continue
            start = _offset(starts, lines, string.lineno, string.col_offset)
            end = _offset(starts, lines, string.lineno, string.end_col_offset or 0)
            at = source.find(name, start, end)
            if at >= 0:
                spans.append((at, at + len(name)))
    return spans


class Bindings:
    """Which modules bind the symbol ``name`` defined at module level in ``defined_in``.

    ``tree_of(path)`` parses a module on demand (None when it cannot be read or parsed);
    answers are memoised, and an import cycle counts as not binding.
    """

    def __init__(
        self,
        name: str,
        defined_in: str,
        index: ModuleIndex,
        tree_of: Callable[[str], ast.Module | None],
    ) -> None:
        self.name = name
        self.defined_in = defined_in
        self.index = index
        self.tree_of = tree_of
        self._binds: dict[str, bool] = {}

    def binds(self, path: str) -> bool:
        if path == self.defined_in:
            return True
        if path in self._binds:
            return self._binds[path]
        self._binds[path] = False  # while deciding: a cycle does not bind
        tree = self.tree_of(path)
        self._binds[path] = tree is not None and self._imports_it(path, tree)
        return self._binds[path]

    def _imports_it(self, path: str, tree: ast.Module) -> bool:
        for node in _top_level(tree.body):
            if not isinstance(node, ast.ImportFrom):
                continue
            for alias in node.names:
                if alias.name == self.name and alias.asname in (None, self.name):
                    source = self.index.resolve_from(path, node.module, node.level)
                    if source is not None and self.binds(source):
                        return True
                elif alias.name == "*":
                    source = self.index.resolve_from(path, node.module, node.level)
                    if source is not None and self.star_exports(source):
                        return True
        return False

    def star_exports(self, path: str) -> bool:
        """Whether ``from <path's module> import *`` brings the symbol in."""
        if not self.binds(path):
            return False
        tree = self.tree_of(path)
        listed = all_names(tree) if tree is not None else None
        return self.name in listed if listed is not None else not self.name.startswith("_")

    def module_binds(self, dotted: str) -> bool:
        """Whether the module called ``dotted`` (as code would import it) binds the symbol."""
        path = self.index.find(dotted)
        return path is not None and self.binds(path)
