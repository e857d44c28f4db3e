import pytest

from bot.agents.paths import read_text, repository_files
from bot.agents.symbols import all_definitions, module_name, named, similar
from bot.core.globs import matches, selected


@pytest.mark.parametrize(
    ("path", "glob", "expected"),
    [
        ("a.py", "*.py", True),
        ("pkg/deep/a.py", "*.py", True),  # no slash: any depth
        ("pkg/a.pyc", "*.py", False),
        ("src/pkg/a.py", "src/*.py", False),  # * stops at slashes
        ("src/a.py", "src/*.py", True),
        ("src/pkg/a.py", "src/**/*.py", True),
        ("src/a.py", "src/**/*.py", True),  # **/ matches zero folders
        ("src/pkg/a.py", "src", True),  # a folder covers what is below it
        ("src/pkg/a.py", "src/pkg", True),
        ("src/pkgx/a.py", "src/pkg", False),
        ("tests/unit/t.py", "tests", True),
        ("docs/a.md", "./docs/", True),
        ("a.py", "[ab].py", True),
        ("c.py", "[!ab].py", True),
        ("a.py", "?.py", True),
        ("ab.py", "?.py", False),
    ],
)
def test_globs_select_files_like_gitignore_does(path, glob, expected):
    assert matches(path, glob) is expected


def test_no_globs_select_everything():
    assert selected("any/file.txt", [])
    assert not selected("any/file.txt", ["*.py"])


def test_repository_files_skip_git_and_links(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("a")
    (tmp_path / "link.py").symlink_to("pkg/a.py")
    (tmp_path / "dirlink").symlink_to("pkg")
    assert list(repository_files(tmp_path)) == ["pkg/a.py"]


def test_binary_and_non_utf8_files_are_not_text(tmp_path):
    (tmp_path / "bin").write_bytes(b"abc\0def")
    (tmp_path / "latin").write_bytes("café".encode("latin-1"))
    (tmp_path / "text").write_bytes(b"line\r\n")
    assert read_text(tmp_path / "bin") is None
    assert read_text(tmp_path / "latin") is None
    assert read_text(tmp_path / "text") == "line\r\n"


def test_module_names_come_from_paths():
    assert module_name("a/b/c.py") == "a.b.c"
    assert module_name("a/b/__init__.py") == "a.b"
    assert module_name("top.py") == "top"


SOURCES = {
    "pkg/mod.py": (
        "import os\n"
        "LIMIT = 3\n"
        "a, (b, c) = 1, (2, 3)\n"
        "def helper(x):\n"
        "    local_name = x\n"
        "    return local_name\n"
        "class Outer:\n"
        "    size = 1\n"
        "    class Inner:\n"
        "        def deep(self): pass\n"
        "    async def fetch(self): pass\n"
        "if os.name:\n"
        "    def maybe(): pass\n"
        "café = 'é'; after_cafe = 1\n"
    ),
    "pkg/broken.py": "def (:\n",
}


def test_definitions_cover_module_level_names_classes_methods_and_nesting():
    found = {d.qualname: d.kind for d in all_definitions(SOURCES)}
    assert found == {
        "pkg.mod.LIMIT": "name",
        "pkg.mod.a": "name",
        "pkg.mod.b": "name",
        "pkg.mod.c": "name",
        "pkg.mod.helper": "function",
        "pkg.mod.Outer": "class",
        "pkg.mod.Outer.size": "attribute",
        "pkg.mod.Outer.Inner": "class",
        "pkg.mod.Outer.Inner.deep": "method",
        "pkg.mod.Outer.fetch": "method",
        "pkg.mod.maybe": "function",
        "pkg.mod.café": "name",
        "pkg.mod.after_cafe": "name",
    }


def test_definition_offsets_point_at_the_name_in_characters():
    source = SOURCES["pkg/mod.py"]
    for definition in all_definitions(SOURCES):
        short = definition.qualname.rpartition(".")[2]
        assert source[definition.offset : definition.offset + len(short)] == short
        assert source.count("\n", 0, definition.offset) + 1 == definition.line


def test_names_match_by_dotted_suffix():
    defs = all_definitions(SOURCES)
    assert [d.qualname for d in named(defs, "Inner.deep")] == ["pkg.mod.Outer.Inner.deep"]
    assert [d.qualname for d in named(defs, "pkg.mod.helper")] == ["pkg.mod.helper"]
    assert named(defs, "elper") == []
    assert named(defs, "local_name") == []


def test_similar_names_are_offered_for_a_typo():
    assert [d.qualname for d in similar(all_definitions(SOURCES), "helpr")] == ["pkg.mod.helper"]
