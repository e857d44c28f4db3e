"""The strings a rename changes with the symbol: ``__all__`` entries and doctest code.

Rope renames code and leaves strings alone; these strings are code all the same, and a
package breaks without them: ``from pkg import *`` fails on a stale ``__all__`` entry, and
``pytest --doctest-modules`` fails on a doctest that calls the old name. Which of them name
the symbol (rules in :mod:`bot.agents.exports` and :mod:`bot.agents.doctests`):

- a module-level symbol: ``__all__`` entries and bare doctest names in a module that binds
  it; ``from X import old`` and ``X.old`` in a doctest where module X binds it;
- a method or class attribute: ``something.old`` in the doctests of the files rope
  changed (rope renames such untyped references in code too, and they are listed for
  review the same way).

Every other mention in a string or comment stays (see :mod:`bot.agents.mentions`).
"""

import ast
from dataclasses import dataclass, field

from bot.agents.doctests import DoctestReference, doctest_references
from bot.agents.exports import Bindings, Span, all_entry_spans


@dataclass
class StringEdits:
    """The spans of one file to replace, and where they are (``path:line``) for the log."""

    spans: list[Span] = field(default_factory=list)
    in_all: list[str] = field(default_factory=list)
    in_doctests: list[str] = field(default_factory=list)


def _wanted(ref: DoctestReference, bindings: Bindings, binds_here: bool) -> bool:
    if ref.kind == "name":
        return bindings.module_binds(ref.bound_from) if ref.bound_from else binds_here
    return bool(ref.chain) and bindings.module_binds(".".join(ref.chain))


def module_symbol_edits(path: str, text: str, bindings: Bindings) -> StringEdits:
    """``__all__`` and doctest spans of ``path`` that name a module-level symbol."""
    edits = StringEdits()
    if "__all__" not in text and ">>>" not in text:
        return edits  # most files: nothing to decide, no import chain to follow
    binds_here = bindings.binds(path)
    if binds_here and "__all__" in text:
        try:
            tree = ast.parse(text, filename=path)
        except SyntaxError:
            tree = None
        if tree is not None:
            for span in all_entry_spans(text, tree, bindings.name):
                edits.spans.append(span)
                edits.in_all.append(f"{path}:{text.count(chr(10), 0, span[0]) + 1}")
    for ref in doctest_references(text, bindings.name):
        if _wanted(ref, bindings, binds_here):
            edits.spans.append((ref.start, ref.end))
            edits.in_doctests.append(f"{path}:{ref.line}")
    return edits


def member_edits(path: str, text: str, name: str) -> StringEdits:
    """Doctest spans of ``path`` that name a method or class attribute (``obj.name``)."""
    edits = StringEdits()
    for ref in doctest_references(text, name):
        if ref.kind == "attribute":
            edits.spans.append((ref.start, ref.end))
            edits.in_doctests.append(f"{path}:{ref.line}")
    return edits


def apply_spans(text: str, spans: list[Span], new: str) -> str:
    """``text`` with every span replaced by ``new`` (spans do not overlap)."""
    out = []
    last = 0
    for start, end in sorted(set(spans)):
        out.append(text[last:start])
        out.append(new)
        last = end
    out.append(text[last:])
    return "".join(out)
