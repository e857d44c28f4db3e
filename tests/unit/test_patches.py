"""The diff parser's own edges (validate's refusals are in test_validation*.py) and diffstat."""

import pytest

from bot.core.diffstat import diffstat
from bot.core.errors import InvalidDiff
from proposals.patches import parse_diff
from proposals.validation import BaseFile, Limits, read_diff, touched_paths, validate


def diff(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


HEAD = ("diff --git a/f b/f", "--- a/f", "+++ b/f")


def test_a_hunk_longer_than_its_header_is_unparsable_and_says_so() -> None:
    with pytest.raises(InvalidDiff, match="more lines than its header counts") as caught:
        parse_diff(diff(*HEAD, "@@ -1 +1,2 @@", "-a", "-b", "+c"))
    assert caught.value.reason_code == "unparsable_diff"


def test_a_malformed_hunk_header_is_unparsable() -> None:
    with pytest.raises(InvalidDiff, match="hunk header"):
        parse_diff(diff(*HEAD, "@@ -x +1 @@", "+b"))


def test_a_blank_line_inside_a_hunk_is_an_empty_context_line_as_git_reads_it() -> None:
    # Editors strip the lone space of an empty context line; git apply still accepts it.
    patch = diff(*HEAD, "@@ -1,3 +1,3 @@", " a", "", "-c", "+C")
    base = {"f": BaseFile("f", "100644", b"a\n\nc\n")}
    [change] = validate(patch, base, Limits())
    assert change.new_content == b"a\n\nC\n"


def test_the_function_name_after_a_hunk_header_is_ignored() -> None:
    patch = diff(*HEAD, "@@ -1 +1 @@ def f():", "-a", "+b")
    [change] = validate(patch, {"f": BaseFile("f", "100644", b"a\n")}, Limits())
    assert change.new_content == b"b\n"


def test_a_parsed_diff_is_shared_by_touched_paths_and_validate() -> None:
    parsed = read_diff(diff(*HEAD, "@@ -1 +1 @@", "-a", "+b"))
    assert touched_paths(parsed) == ["f"]
    assert validate(parsed, {"f": BaseFile("f", "100644", b"a\n")}, Limits())[0].new_content == (
        b"b\n"
    )
    with pytest.raises(InvalidDiff) as caught:
        validate(parsed, {"f": BaseFile("f", "100644", b"a\n")}, Limits(max_diff_bytes=10))
    assert caught.value.reason_code == "diff_too_large"


def test_diffstat_counts_files_and_lines_but_not_the_name_lines() -> None:
    text = diff(*HEAD, "@@ -1,2 +1,2 @@", "-a", "--b", "+c", "++d") + diff(
        "diff --git a/g b/g",
        "new file mode 100644",
        "--- /dev/null",
        "+++ b/g",
        "@@ -0,0 +1 @@",
        "+x",
    )
    stat = diffstat(text)
    assert (stat.files, stat.additions, stat.deletions) == (2, 3, 2)
    assert diffstat("not a diff").files == 0
