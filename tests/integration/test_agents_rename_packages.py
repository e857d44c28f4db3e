"""The rename agent keeps real packages importable: ``__all__``, re-exports and doctests.

The sample in tests/samples/chunkytools is laid out like more-itertools; the small packages
below are written per test.
"""

import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from bot.agents.base import AgentLimits, AgentRequest
from bot.agents.rename import RenameAgent
from bot.core.errors import AgentFailed

CHUNKYTOOLS = Path(__file__).parents[1] / "samples" / "chunkytools"


def rename(checkout, old, new, **extra):
    request = AgentRequest(
        checkout=checkout,
        command={"name": "rename", "old": old, "new": new, **extra},
        limits=AgentLimits(timeout=60.0),
        stop=threading.Event(),
        home=checkout.parent,
    )
    return RenameAgent().run(request).log


def write(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text).lstrip())
    return root


def run(checkout: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def chunkytools(tmp_path: Path) -> Path:
    target = tmp_path / "chunkytools"
    shutil.copytree(CHUNKYTOOLS, target)
    return target


def test_a_star_exported_package_still_imports_and_passes_its_doctests(chunkytools):
    log = rename(chunkytools, "chunked", "split_into_chunks")

    imported = run(chunkytools, "-c", "import chunkytools; print(chunkytools.split_into_chunks)")
    assert imported.returncode == 0, imported.stderr
    assert not hasattr_in(chunkytools, "chunked")
    tested = run(chunkytools, "-m", "pytest", "-q", "--doctest-modules", "-p", "no:cacheprovider")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "8 passed" in tested.stdout

    more = (chunkytools / "chunkytools" / "more.py").read_text()
    assert '    "split_into_chunks",\n' in more
    assert ">>> list(split_into_chunks([1, 2, 3, 4, 5, 6], 3))" in more
    assert ">>> for chunk in split_into_chunks(\n    ...     [1, 2, 3, 4, 5], 3\n" in more
    # Prose keeps the old name: the error message, its expected output, the comment.
    assert 'raise ValueError("chunked: iterable is not divisible by n.")' in more
    assert "ValueError: chunked: iterable is not divisible by n." in more
    assert "# The message names chunked" in more
    recipes = (chunkytools / "chunkytools" / "recipes.py").read_text()
    assert ">>> from chunkytools import split_into_chunks" in recipes
    assert '>>> chunkytools.split_into_chunks("ab", 1)' in recipes

    assert "Note: chunked is also mentioned in 3 strings, 1 comment and 1 other file" in log
    assert "Renamed in __all__: chunkytools/more.py:8" in log
    assert "README.md" in log


def hasattr_in(checkout: Path, name: str) -> bool:
    done = run(checkout, "-c", f"import chunkytools; print(hasattr(chunkytools, {name!r}))")
    return done.stdout.strip() == "True"


def test_an_explicit_re_export_and_its_all_entry_are_renamed(tmp_path):
    write(
        tmp_path,
        {
            "pkg/__init__.py": """
                from .core import old_name, keep
                from pkg.extra import old_name as alias

                __all__ = ["old_name", "keep", "alias"]
            """,
            "pkg/core.py": """
                __all__ = ["keep"]
                __all__ += ["old_name"]
                __all__.append("old_name")


                def old_name():
                    return 1


                def keep():
                    return old_name()
            """,
            "pkg/extra.py": """
                from .core import old_name

                __all__ = ("old_name",)
            """,
            "pkg/own.py": """
                __all__ = ["old_name", "other"]


                def other():
                    '''Has its own name with the same spelling.

                    >>> old_name()
                    2
                    '''


                def helper():
                    return 0


                old_name = lambda: 2  # noqa: E731
            """,
        },
    )
    log = rename(tmp_path, "pkg.core.old_name", "new_name")

    init = (tmp_path / "pkg/__init__.py").read_text()
    assert "from .core import new_name, keep" in init
    assert "from pkg.extra import new_name as alias" in init
    assert '__all__ = ["new_name", "keep", "alias"]' in init
    core = (tmp_path / "pkg/core.py").read_text()
    assert '__all__ += ["new_name"]' in core
    assert '__all__.append("new_name")' in core
    assert '__all__ = ("new_name",)' in (tmp_path / "pkg/extra.py").read_text()
    # pkg.own defines a different old_name: its __all__ and doctest stay, and are counted.
    own = (tmp_path / "pkg/own.py").read_text()
    assert '__all__ = ["old_name", "other"]' in own
    assert ">>> old_name()" in own
    assert "Note: old_name is also mentioned in 2 strings, not changed." in log
    assert "pkg/own.py:1" in log
    done = run(tmp_path, "-c", "from pkg import *; from pkg.extra import *; print(new_name())")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "1\n"


def test_doctest_output_keywords_and_other_modules_doctests_are_not_code(tmp_path):
    write(
        tmp_path,
        {
            "lib/__init__.py": "",
            "lib/core.py": '''
                def fetch(fetch=None):
                    """Fetch.

                    >>> fetch(fetch=1)
                    Traceback (most recent call last):
                    ...
                    fetch: failed
                    ... fetch
                    """
            ''',
            "lib/other.py": '''
                """Uses a name it does not import.

                >>> fetch()
                >>> import lib.core as c
                >>> c.fetch()
                >>> obj.fetch()
                """
            ''',
        },
    )
    log = rename(tmp_path, "lib.core.fetch", "retrieve")
    core = (tmp_path / "lib/core.py").read_text()
    assert "def retrieve(fetch=None):" in core
    assert ">>> retrieve(fetch=1)" in core  # the keyword is the parameter, not the function
    assert "    ...\n    fetch: failed\n    ... fetch\n" in core  # expected output
    other = (tmp_path / "lib/other.py").read_text()
    assert ">>> fetch()" in other  # lib.other's global `fetch` is not the function
    assert ">>> c.retrieve()" in other  # lib.core, through the example's alias
    assert ">>> obj.fetch()" in other  # no telling what obj is
    assert "Renamed in doctests: lib/core.py:4, lib/other.py:5" in log


def test_renaming_a_method_renames_it_in_doctests_of_the_files_that_use_it(tmp_path):
    write(
        tmp_path,
        {
            "shop.py": '''
                class Basket:
                    """A basket.

                    >>> Basket().total()
                    0
                    >>> total = 3
                    """

                    def total(self):
                        return 0
            ''',
        },
    )
    rename(tmp_path, "Basket.total", "grand_total")
    shop = (tmp_path / "shop.py").read_text()
    assert ">>> Basket().grand_total()" in shop
    assert ">>> total = 3" in shop


MARKER_MODULE = """
    from pathlib import Path

    Path({marker!r}).write_text("imported")


    def factory():
        return None


    def old_name():
        return 1
"""


def test_rope_never_imports_or_runs_repository_code(tmp_path, monkeypatch):
    """A repository's rope settings ask for its modules to be imported: nothing is."""
    marker = tmp_path / "imported.txt"
    checkout = tmp_path / "work"
    write(
        checkout,
        {
            "pyproject.toml": """
                [tool.rope]
                extension_modules = ["evil", "evil_ext"]
                import_dynload_stdmods = true
                type_hinting_factory = "evil.factory"
                perform_doa = true
                automatic_soa = true
                soa_followed_calls = 5
                python_path = ["."]
            """,
            ".ropeproject/config.py": f"""
                from pathlib import Path

                Path({str(marker)!r}).write_text("config.py ran")
            """,
            "evil.py": MARKER_MODULE.format(marker=str(marker)),
            "evil_ext.py": MARKER_MODULE.format(marker=str(marker)),
            "users.py": """
                import evil
                import evil_ext
                from evil import old_name


                def call():
                    return old_name() + evil.old_name() + evil_ext.factory()
            """,
        },
    )
    # The worst case: the checkout is importable (as it is when an agent runs in it).
    monkeypatch.syspath_prepend(str(checkout))
    rename(checkout, "evil.old_name", "new_name")
    assert "evil" not in sys.modules and "evil_ext" not in sys.modules
    assert not marker.exists()
    assert (
        "return new_name() + evil.new_name() + evil_ext.factory()"
        in (checkout / "users.py").read_text()
    )


def test_a_file_that_does_not_mention_the_name_is_never_parsed(tmp_path):
    """Only files whose bytes contain the name reach the parser: others cannot break it."""
    write(
        tmp_path,
        {
            "a.py": "def old_name():\n    return 1\n",
            "b.py": "from a import old_name\n\nold_name()\n",
            "broken.py": "def (:\n",
        },
    )
    log = rename(tmp_path, "old_name", "new_name")
    assert (tmp_path / "b.py").read_text() == "from a import new_name\n\nnew_name()\n"
    assert "Searched 3 files: 2 contain 'old_name', 2 Python files of them" in log


def test_an_unknown_name_still_gets_hints_from_the_whole_repository(tmp_path):
    write(tmp_path, {"a.py": "def old_name():\n    return 1\n"})
    with pytest.raises(AgentFailed) as caught:
        rename(tmp_path, "old_nam", "new_name")
    assert caught.value.reason_code == "unknown_symbol"
    assert "a.py:1 (a.old_name)" in caught.value.message


def test_windows_line_endings_survive_the_rename_and_the_string_edits(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib/__init__.py").write_bytes(
        b'from .core import old_name\r\n\r\n__all__ = ["old_name"]\r\n'
    )
    (tmp_path / "lib/core.py").write_bytes(
        b'def old_name():\r\n    """One.\r\n\r\n    >>> old_name()\r\n    1\r\n    """\r\n'
        b"    return 1\r\n"
    )
    rename(tmp_path, "lib.core.old_name", "new_name")
    assert (tmp_path / "lib/__init__.py").read_bytes() == (
        b'from .core import new_name\r\n\r\n__all__ = ["new_name"]\r\n'
    )
    assert (tmp_path / "lib/core.py").read_bytes() == (
        b'def new_name():\r\n    """One.\r\n\r\n    >>> new_name()\r\n    1\r\n    """\r\n'
        b"    return 1\r\n"
    )
