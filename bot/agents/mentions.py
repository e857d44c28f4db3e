"""Mentions of a name that a rename leaves alone, counted for the reviewer (pure).

After a rename, the old name may still stand in prose: comments, strings (error messages,
documentation, expected doctest output) and files that are not Python (README, docs).
Changing those is a judgement a reviewer makes, so the agent only counts and lists them.
A mention is the name as a whole word (``f`` in ``f()``, not in ``fx``). Python code that
still spells the name (a local variable of the same name) is a different name, not a
mention.
"""

import ast
import io
import re
import tokenize
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass
class Mentions:
    strings: list[str] = field(default_factory=list)  # "path:line", one per string literal
    comments: list[str] = field(default_factory=list)  # "path:line", one per comment
    other_files: list[str] = field(default_factory=list)  # files that are not Python

    def sentence(self) -> str | None:
        """``also mentioned in 3 strings and 1 other file, not changed``, or None."""
        parts = [
            _count(len(self.strings), "string"),
            _count(len(self.comments), "comment"),
            _count(len(self.other_files), "other file"),
        ]
        said = [p for p in parts if p]
        if not said:
            return None
        listed = ", ".join(said[:-1]) + " and " + said[-1] if len(said) > 1 else said[0]
        return f"also mentioned in {listed}, not changed"

    def places(self) -> list[str]:
        return [*self.strings, *self.comments, *self.other_files]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}" if n else ""


def whole_word(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w]){re.escape(name)}(?![\w])")


def count_mentions(texts: Mapping[str, str], name: str) -> Mentions:
    """The mentions of ``name`` left in ``texts`` (path -> text after the rename)."""
    word = whole_word(name)
    found = Mentions()
    for path in sorted(texts):
        text = texts[path]
        if not word.search(text):
            continue
        if not path.endswith(".py"):
            found.other_files.append(path)
            continue
        try:
            strings, comments = _python_mentions(text, word)
        except (SyntaxError, tokenize.TokenError):
            found.other_files.append(path)
            continue
        found.strings += [f"{path}:{line}" for line in strings]
        found.comments += [f"{path}:{line}" for line in comments]
    return found


def _python_mentions(text: str, word: re.Pattern[str]) -> tuple[list[int], list[int]]:
    """Lines of the string literals and of the comments that hold the word.

    Strings come from ``ast`` (fast); ``tokenize`` (slow) runs only on a file where a ``#``
    comes before the word on some line, the only way a comment can hold it.
    """
    tree = ast.parse(text)
    strings = sorted(
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and word.search(node.value)
    )
    comments: list[int] = []
    if any("#" in line[: m.start()] for line in text.splitlines() for m in word.finditer(line)):
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT and word.search(token.string):
                comments.append(token.start[0])
    return strings, comments
