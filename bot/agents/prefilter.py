"""Which files of a checkout can mention a name: a plain byte search, before any parsing.

A rename only ever changes files whose bytes contain the old name (a reference to ``f``
spells ``f``), so everything slower than reading bytes (ast, rope) works on the files this
search returns, and the cost of a rename grows with the files that mention the name, not
with the size of the repository. The search is a substring test, so it finds a superset
(``f`` inside ``fx`` too); later steps decide what is really the symbol.

The files are those :func:`bot.agents.paths.repository_files` lists (regular files, not
through links, nothing under ``.git``), walked with ``os.scandir``, which knows a file from a
link or a folder without a ``stat`` per file. Binary and non-UTF-8 files are never returned:
no later step reads them.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot.agents.paths import as_text


@dataclass(frozen=True)
class Candidates:
    """The text of every file that contains the word, and how many files were searched."""

    texts: dict[str, str]  # repository-relative path -> its text (UTF-8)
    python_paths: list[str]  # every .py file searched, mentioning the word or not
    searched: int

    def python(self) -> dict[str, str]:
        return {path: text for path, text in self.texts.items() if path.endswith(".py")}


def _files(root: str) -> Iterator[tuple[str, str]]:
    """(repository-relative path, full path) of every regular file, in sorted order."""
    folders = [("", root)]
    while folders:
        relative, folder = folders.pop()
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
        below = []
        for entry in entries:
            path = f"{relative}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".git":
                    below.append((f"{path}/", entry.path))
            elif entry.is_file(follow_symlinks=False):
                yield path, entry.path
        folders.extend(reversed(below))


def files_mentioning(root: Path, word: str) -> Candidates:
    """Every text file under ``root`` whose bytes contain ``word`` (UTF-8), with its text."""
    needle = word.encode()
    texts: dict[str, str] = {}
    python_paths: list[str] = []
    searched = 0
    for relative, full in _files(str(root)):
        searched += 1
        if relative.endswith(".py"):
            python_paths.append(relative)
        with open(full, "rb") as handle:
            data = handle.read()
        if needle in data:
            text = as_text(data)
            if text is not None:
                texts[relative] = text
    return Candidates(texts, python_paths, searched)
