"""Which files of a checkout can mention a name: a plain byte search, before any parsing.

A rename only ever changes files whose bytes contain the old name (a reference to ``f``
spells ``f``), so everything slower than reading bytes (ast, rope, tokenize) works on the
files this search returns, and the cost of a rename grows with the files that mention the
name, not with the size of the repository. The search is a substring test, so it finds a
superset (``f`` inside ``fx`` too); later steps decide what is really the symbol.

Files are those of :func:`bot.agents.paths.repository_files` (regular files, no links,
nothing under ``.git``). Binary and non-UTF-8 files are never returned: no step reads them.
"""

from dataclasses import dataclass
from pathlib import Path

from bot.agents.paths import read_text, repository_files


@dataclass(frozen=True)
class Candidates:
    """The text of every file that contains the word, and how many files were searched."""

    texts: dict[str, str]  # repository-relative path -> its text (UTF-8)
    python_paths: list[str]  # every .py file searched, mentioning the word or not
    searched: int

    def python(self) -> dict[str, str]:
        return {path: text for path, text in self.texts.items() if path.endswith(".py")}


def files_mentioning(root: Path, word: str) -> Candidates:
    """Every text file under ``root`` whose bytes contain ``word`` (UTF-8), with its text."""
    needle = word.encode()
    texts: dict[str, str] = {}
    python_paths: list[str] = []
    searched = 0
    for relative in repository_files(root):
        searched += 1
        if relative.endswith(".py"):
            python_paths.append(relative)
        path = root / relative
        if needle not in path.read_bytes():
            continue
        text = read_text(path)
        if text is not None:
            texts[relative] = text
    return Candidates(texts, python_paths, searched)
