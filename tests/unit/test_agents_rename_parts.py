"""The rename agent's pure parts: the byte pre-filter, doctest references, mentions."""

import textwrap
from pathlib import Path

from bot.agents.doctests import doctest_references
from bot.agents.mentions import Mentions, count_mentions
from bot.agents.prefilter import files_mentioning


def test_the_prefilter_returns_only_text_files_whose_bytes_hold_the_word(tmp_path: Path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("old_name")
    (tmp_path / "a.py").write_text("old_name()\n")
    (tmp_path / "b.py").write_text("other()\n")
    (tmp_path / "c.md").write_text("see old_names\n")  # a substring counts: callers decide
    (tmp_path / "d.bin").write_bytes(b"\0old_name")
    (tmp_path / "e.py").write_bytes("old_name = 'é'\n".encode("latin-1"))
    found = files_mentioning(tmp_path, "old_name")
    assert sorted(found.texts) == ["a.py", "c.md"]
    assert sorted(found.python()) == ["a.py"]
    assert found.python_paths == ["a.py", "b.py", "e.py"]
    assert found.searched == 5


def refs(source: str, name: str = "old") -> list[tuple[str, str, tuple[str, ...], str | None]]:
    source = textwrap.dedent(source)
    return [
        (source[r.start : r.end], r.kind, r.chain, r.bound_from)
        for r in doctest_references(source, name)
    ]


def test_doctest_references_know_names_attributes_and_imports():
    found = refs(
        '''
        def f():
            """
            >>> old(1)
            >>> import pkg.sub as s
            >>> s.old(2) + pkg.old + x().old
            >>> from pkg import old
            >>> old(old=3)
            """
        '''
    )
    assert found == [
        ("old", "name", (), None),
        ("old", "attribute", ("pkg", "sub"), None),
        ("old", "attribute", ("pkg",), None),
        ("old", "attribute", (), None),
        ("old", "import", ("pkg",), "pkg"),
        ("old", "name", (), "pkg"),
    ]


def test_output_lines_and_prose_are_not_doctest_code():
    found = refs(
        '''
        """old is described here.

        >>> print("x")
        old
        ... old
        >>> f(
        ...     1)
        ...
        old(1)
        """
        '''
    )
    assert found == []


def test_continuation_lines_belong_to_their_example():
    source = textwrap.dedent(
        '''
        """
        >>> for x in range(2):
        ...     old(x)
        """
        '''
    )
    [ref] = doctest_references(source, "old")
    assert source[ref.start : ref.end] == "old" and ref.line == 4


def test_mentions_count_strings_comments_and_other_files_but_not_code():
    texts = {
        "a.py": 'old = 1  # old\nx = "the old way"\ny = "older"\nprint(f"{old}")\n',
        "b.txt": "old\n",
        "c.py": "def (:\n  old\n",
    }
    found = count_mentions(texts, "old")
    assert found.strings == ["a.py:2"]
    assert found.comments == ["a.py:1"]
    assert found.other_files == ["b.txt", "c.py"]
    assert found.sentence() == (
        "also mentioned in 1 string, 1 comment and 2 other files, not changed"
    )


def test_no_mentions_means_no_sentence():
    assert Mentions().sentence() is None
    assert Mentions(strings=["a:1", "b:2", "c:3"]).sentence() == (
        "also mentioned in 3 strings, not changed"
    )
