"""Module docstrings are the spec: a symbol one names must still exist.

Checked (cheaply, by name): every Sphinx reference (:func:`x`, :class:`x`, :meth:`x`,
:mod:`x`, ...), every ``call(...)`` and every ``CamelCase`` name in double backticks. A
dotted name under bot, proposals or webhooks must name an existing module; any other name
must be defined, assigned, imported or used as an attribute somewhere in the code (or be a
builtin). Words that look like code but are not ours are listed in NOT_OURS with why.
"""

import ast
import builtins
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "proposals", "webhooks")
ROLE = re.compile(r":(?:func|class|meth|mod|data|exc|attr|obj):`~?\.?([^`<>]+?)`")
TICKS = re.compile(r"``([^`]+)``")
CALL = re.compile(r"^([A-Za-z_][\w.]*)\(")
CAMEL = re.compile(r"^[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+$")
NOT_OURS = {
    "rate",  # PromQL, in bot/observe/metrics.py
    "increase",  # PromQL
    "__all__.append",  # the renamed package's code, in bot/agents/exports.py
    "__all__.extend",
}


def modules() -> Iterator[Path]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "sample_repo" not in path.parts:
                yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def known_names() -> set[str]:
    names = set(dir(builtins))
    for path in modules():
        names.update(module_name(path).split("."))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
            elif isinstance(node, ast.alias):
                names.update((node.asname or node.name).split("."))
            elif isinstance(node, ast.arg):
                names.add(node.arg)
    return names


def references(docstring: str) -> Iterator[str]:
    for match in ROLE.finditer(docstring):
        yield match.group(1).removesuffix("()")
    for match in TICKS.finditer(docstring):
        text = match.group(1).strip()
        if call := CALL.match(text):
            yield call.group(1)
        elif CAMEL.match(text):
            yield text


def stale_references() -> list[str]:
    names = known_names()
    module_names = {module_name(path) for path in modules()}
    stale = []
    for path in modules():
        docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
        for ref in references(docstring):
            parts = ref.split(".")
            if ref in NOT_OURS or ref in module_names:
                continue
            if parts[0] in PACKAGES and len(parts) > 1:
                owner = ".".join(parts[:-1])
                if not any(m == owner or m.startswith(owner + ".") for m in module_names):
                    stale.append(f"{path.relative_to(ROOT)}: {ref} (no module {owner})")
                    continue
            if parts[-1] not in names:
                stale.append(f"{path.relative_to(ROOT)}: {ref}")
    return stale


def test_every_symbol_a_module_docstring_names_exists() -> None:
    assert stale_references() == []


def test_a_name_that_exists_nowhere_is_caught() -> None:
    docstring = "Call :func:`get_settings`, then ``vanished_helper(x)`` and ``GhostClass``."
    names = known_names()
    assert [ref for ref in references(docstring) if ref not in names] == [
        "vanished_helper",
        "GhostClass",
    ]
