import threading
import time

import pytest

from bot.agents.base import AgentLimits, AgentRequest
from bot.agents.replace import ReplaceAgent
from bot.core.errors import AgentFailed, LeaseLost


def replace(root, pattern, replacement, *, regex=False, paths=None, stop=None):
    command = {"name": "replace", "pattern": pattern, "replacement": replacement, "regex": regex}
    if paths is not None:
        command["paths"] = paths
    request = AgentRequest(
        checkout=root,
        command=command,
        limits=AgentLimits(timeout=30),
        stop=stop or threading.Event(),
        home=root.parent,
    )
    return ReplaceAgent().run(request)


@pytest.fixture
def root(tmp_path):
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "docs").mkdir()
    (work / ".git").mkdir()
    (work / "src" / "a.py").write_text("colour = 'red'\nprint(colour)\n")
    (work / "src" / "b.txt").write_bytes(b"colour\r\nsecond colour\r\n")
    (work / "docs" / "guide.md").write_text("The colour of money.\n")
    (work / "logo.png").write_bytes(b"\x89PNG\0colour")
    (work / "latin.txt").write_bytes("colour café".encode("latin-1"))
    (work / ".git" / "config").write_text("colour = yes\n")
    (work / "link.txt").symlink_to("docs/guide.md")
    return work


def test_literal_replacement_over_every_text_file(root):
    result = replace(root, "colour", "color")
    assert (root / "src" / "a.py").read_text() == "color = 'red'\nprint(color)\n"
    assert (root / "docs" / "guide.md").read_text() == "The color of money.\n"
    assert "5 replacements in 3 of 3 text files." in result.log
    assert "src/a.py: 2 replacements" in result.log


def test_line_endings_are_kept(root):
    replace(root, "colour", "color")
    assert (root / "src" / "b.txt").read_bytes() == b"color\r\nsecond color\r\n"


def test_binary_non_utf8_git_and_linked_files_are_never_touched(root):
    replace(root, "colour", "color")
    assert (root / "logo.png").read_bytes() == b"\x89PNG\0colour"
    assert (root / "latin.txt").read_bytes() == "colour café".encode("latin-1")
    assert (root / ".git" / "config").read_text() == "colour = yes\n"
    assert (root / "link.txt").is_symlink()


def test_paths_choose_the_files(root):
    replace(root, "colour", "color", paths=["*.md"])
    assert "color" in (root / "docs" / "guide.md").read_text()
    assert "colour" in (root / "src" / "a.py").read_text()


def test_regex_replacement_with_groups_and_line_anchors(root):
    replace(root, r"^(\w+) = '(\w+)'$", r"\1 = \2.upper()", regex=True)
    assert (root / "src" / "a.py").read_text() == "colour = red.upper()\nprint(colour)\n"


def test_a_literal_pattern_is_not_a_regex(root):
    (root / "src" / "c.py").write_text("x = a.b\nx = axb\n")
    replace(root, "a.b", "c", paths=["src/c.py"])
    assert (root / "src" / "c.py").read_text() == "x = c\nx = axb\n"


def test_an_invalid_regex_is_a_bad_instruction(root):
    with pytest.raises(AgentFailed) as caught:
        replace(root, "(unclosed", "x", regex=True)
    assert caught.value.reason_code == "bad_instruction"
    assert not caught.value.retryable
    assert "(unclosed" in caught.value.message


def test_a_replacement_naming_a_missing_group_is_a_bad_instruction(root):
    with pytest.raises(AgentFailed) as caught:
        replace(root, "(colour)", r"\2", regex=True)
    assert caught.value.reason_code == "bad_instruction"


def test_no_match_changes_nothing_and_says_so(root):
    result = replace(root, "zebra", "horse")
    assert "0 replacements in 0 of 3 text files." in result.log
    assert (root / "src" / "a.py").read_text() == "colour = 'red'\nprint(colour)\n"


def test_an_empty_pattern_is_a_bad_instruction(root):
    with pytest.raises(AgentFailed) as caught:
        replace(root, "", "x")
    assert caught.value.reason_code == "bad_instruction"


def test_a_lost_lease_stops_the_replacement(root):
    stop = threading.Event()
    stop.set()
    with pytest.raises(LeaseLost):
        replace(root, "colour", "color", stop=stop)


def test_a_catastrophic_pattern_runs_in_linear_time(root):
    # With Python's re this pattern backtracks for hours on a line of 40 word characters.
    (root / "src" / "long.txt").write_text("a" * 200_000 + "!\n")
    started = time.process_time()  # CPU time: other processes cannot slow it
    result = replace(root, r"(\w|\w\w)*;", "x", regex=True)
    assert time.process_time() - started < 5
    assert "0 replacements" in result.log


@pytest.mark.parametrize("pattern", [r"(a)\1", r"colour(?= of)", r"(?<!the )colour", "a{2000}"])
def test_a_pattern_re2_cannot_run_is_refused_as_unsupported(root, pattern):
    with pytest.raises(AgentFailed) as caught:
        replace(root, pattern, "x", regex=True)
    assert caught.value.reason_code == "unsupported_regex"
    assert "RE2" in caught.value.message
