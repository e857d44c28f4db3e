"""validate() on the shapes of change git writes: each comes out byte for byte.

The diffs here are written out by hand, in git's exact format, so each test reads as the
case it covers; tests/integration/test_validation_git.py runs the same cases through real git.
"""

from proposals.validation import BaseFile, FileChange, Limits, touched_paths, validate


def diff(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


def one_change(patch: str, *base: tuple[str, bytes] | tuple[str, bytes, str]) -> FileChange:
    files = {f[0]: BaseFile(f[0], f[2] if len(f) == 3 else "100644", f[1]) for f in base}
    [change] = validate(patch, files, Limits())
    return change


def test_a_last_line_gains_its_newline() -> None:
    patch = diff(
        "diff --git a/f b/f",
        "--- a/f",
        "+++ b/f",
        "@@ -1,2 +1,2 @@",
        " a",
        "-b",
        "\\ No newline at end of file",
        "+b",
    )
    assert one_change(patch, ("f", b"a\nb")).new_content == b"a\nb\n"


def test_a_last_line_loses_its_newline() -> None:
    patch = diff(
        "diff --git a/f b/f",
        "--- a/f",
        "+++ b/f",
        "@@ -1,2 +1,2 @@",
        " a",
        "-b",
        "+b",
        "\\ No newline at end of file",
    )
    assert one_change(patch, ("f", b"a\nb\n")).new_content == b"a\nb"


def test_a_last_line_without_newline_on_both_sides_stays_without() -> None:
    patch = diff(
        "diff --git a/f b/f",
        "--- a/f",
        "+++ b/f",
        "@@ -1,2 +1,2 @@",
        "-a",
        "+A",
        " b",
        "\\ No newline at end of file",
    )
    assert one_change(patch, ("f", b"a\nb")).new_content == b"A\nb"


def test_crlf_line_endings_are_kept_byte_for_byte() -> None:
    patch = diff(
        "diff --git a/win.txt b/win.txt",
        "--- a/win.txt",
        "+++ b/win.txt",
        "@@ -1,3 +1,3 @@",
        " one\r",
        "-two\r",
        "+TWO\r",
        " three",
        "\\ No newline at end of file",
    )
    base = b"one\r\ntwo\r\nthree"
    assert one_change(patch, ("win.txt", base)).new_content == b"one\r\nTWO\r\nthree"


def test_a_pure_rename_moves_the_base_bytes_and_mode() -> None:
    patch = diff(
        "diff --git a/old name.sh b/new name.sh",
        "similarity index 100%",
        "rename from old name.sh",
        "rename to new name.sh",
    )
    change = one_change(patch, ("old name.sh", b"#!/bin/sh\r\necho\r\n", "100755"))
    assert change == FileChange("new name.sh", b"#!/bin/sh\r\necho\r\n", "100755", "old name.sh")


def test_a_rename_with_a_content_change() -> None:
    patch = diff(
        "diff --git a/src/old.py b/src/new.py",
        "similarity index 80%",
        "rename from src/old.py",
        "rename to src/new.py",
        "index 1111111..2222222 100644",
        "--- a/src/old.py",
        "+++ b/src/new.py",
        "@@ -1,4 +1,4 @@",
        " a",
        " b",
        "-c",
        "+C",
        " d",
    )
    change = one_change(patch, ("src/old.py", b"a\nb\nc\nd\n"))
    assert change == FileChange("src/new.py", b"a\nb\nC\nd\n", "100644", "src/old.py")


def test_a_copy_writes_the_new_path_and_keeps_the_source() -> None:
    patch = diff("diff --git a/a b/b", "similarity index 100%", "copy from a", "copy to b")
    assert one_change(patch, ("a", b"x\n")) == FileChange("b", b"x\n", "100644")


def test_a_deleted_file() -> None:
    patch = diff(
        "diff --git a/gone.py b/gone.py",
        "deleted file mode 100755",
        "index 1111111..0000000",
        "--- a/gone.py",
        "+++ /dev/null",
        "@@ -1,2 +0,0 @@",
        "-a",
        "-b",
    )
    assert one_change(patch, ("gone.py", b"a\nb\n", "100755")) == FileChange(
        "gone.py", None, "100755"
    )


def test_a_new_file() -> None:
    patch = diff(
        "diff --git a/pkg/new.py b/pkg/new.py",
        "new file mode 100644",
        "index 0000000..1111111",
        "--- /dev/null",
        "+++ b/pkg/new.py",
        "@@ -0,0 +1,2 @@",
        "+print('hi')",
        "+",
    )
    assert one_change(patch) == FileChange("pkg/new.py", b"print('hi')\n\n", "100644")


def test_a_mode_change_only_keeps_the_content() -> None:
    patch = diff("diff --git a/run.sh b/run.sh", "old mode 100644", "new mode 100755")
    assert one_change(patch, ("run.sh", b"echo hi\n")) == FileChange(
        "run.sh", b"echo hi\n", "100755"
    )


def test_a_mode_change_with_a_content_change() -> None:
    patch = diff(
        "diff --git a/run.sh b/run.sh",
        "old mode 100755",
        "new mode 100644",
        "index 1111111..2222222",
        "--- a/run.sh",
        "+++ b/run.sh",
        "@@ -1 +1 @@",
        "-echo hi",
        "+echo bye",
    )
    change = one_change(patch, ("run.sh", b"echo hi\n", "100755"))
    assert change == FileChange("run.sh", b"echo bye\n", "100644")


def test_unicode_paths_that_git_quotes_are_decoded() -> None:
    patch = diff(
        'diff --git "a/docs/caf\\303\\251.md" "b/docs/caf\\303\\251.md"',
        "index 1111111..2222222 100644",
        '--- "a/docs/caf\\303\\251.md"',
        '+++ "b/docs/caf\\303\\251.md"',
        "@@ -1 +1 @@",
        "-th\u00e9",
        "+tea",
    )
    assert touched_paths(patch) == ["docs/café.md"]
    assert one_change(patch, ("docs/café.md", "thé\n".encode())).new_content == b"tea\n"


def test_a_quoted_rename_with_escapes_for_quote_and_octal() -> None:
    patch = diff(
        'diff --git a/plain "b/odd name \\"x\\"\\303\\274"',
        "similarity index 100%",
        "rename from plain",
        'rename to "odd name \\"x\\"\\303\\274"',
    )
    assert one_change(patch, ("plain", b"x")).path == 'odd name "x"ü'


def test_paths_with_spaces_and_gits_trailing_tab() -> None:
    patch = diff(
        "diff --git a/my dir/a b.txt b/my dir/a b.txt",
        "index 1111111..2222222 100644",
        "--- a/my dir/a b.txt\t",
        "+++ b/my dir/a b.txt\t",
        "@@ -1 +1 @@",
        "-x",
        "+y",
    )
    assert one_change(patch, ("my dir/a b.txt", b"x\n")) == FileChange(
        "my dir/a b.txt", b"y\n", "100644"
    )


def test_a_path_with_spaces_named_only_by_the_git_header() -> None:
    patch = diff("diff --git a/a b/c d b/a b/c d", "old mode 100644", "new mode 100755")
    assert one_change(patch, ("a b/c d", b"")).path == "a b/c d"


def test_a_new_empty_file_has_no_hunk() -> None:
    patch = diff("diff --git a/empty b/empty", "new file mode 100644", "index 0000000..e69de29")
    assert one_change(patch) == FileChange("empty", b"", "100644")


def test_an_empty_file_is_deleted() -> None:
    patch = diff("diff --git a/empty b/empty", "deleted file mode 100644", "index e69de29..0000000")
    assert one_change(patch, ("empty", b"")) == FileChange("empty", None, "100644")


def test_an_empty_file_gets_content_and_a_file_is_emptied() -> None:
    fill = diff("diff --git a/f b/f", "--- a/f", "+++ b/f", "@@ -0,0 +1 @@", "+now")
    assert one_change(fill, ("f", b"")).new_content == b"now\n"
    empty = diff("diff --git a/f b/f", "--- a/f", "+++ b/f", "@@ -1 +0,0 @@", "-was")
    assert one_change(empty, ("f", b"was\n")).new_content == b""


def test_a_zero_context_diff_applies_at_its_exact_lines() -> None:
    patch = diff(
        "diff --git a/f b/f",
        "--- a/f",
        "+++ b/f",
        "@@ -0,0 +1 @@",
        "+top",
        "@@ -2 +3 @@",
        "-b",
        "+B",
        "@@ -4,0 +6,2 @@",
        "+e",
        "+f",
    )
    assert one_change(patch, ("f", b"a\nb\nc\nd\n")).new_content == b"top\na\nB\nc\nd\ne\nf\n"


def test_a_file_turned_into_a_symlink_is_one_change() -> None:
    # git shows a type change as a deletion and a creation of the same path.
    patch = diff(
        "diff --git a/cfg b/cfg",
        "deleted file mode 100644",
        "--- a/cfg",
        "+++ /dev/null",
        "@@ -1 +0,0 @@",
        "-x",
        "diff --git a/cfg b/cfg",
        "new file mode 120000",
        "--- /dev/null",
        "+++ b/cfg",
        "@@ -0,0 +1 @@",
        "+conf/cfg",
        "\\ No newline at end of file",
    )
    assert one_change(patch, ("cfg", b"x\n")) == FileChange("cfg", b"conf/cfg", "120000")


def test_a_renamed_file_whose_old_path_is_created_again() -> None:
    patch = diff(
        "diff --git a/a b/b",
        "similarity index 100%",
        "rename from a",
        "rename to b",
        "diff --git a/a b/a",
        "new file mode 100644",
        "--- /dev/null",
        "+++ b/a",
        "@@ -0,0 +1 @@",
        "+fresh",
    )
    changes = validate(patch, {"a": BaseFile("a", "100644", b"old\n")}, Limits())
    assert changes == [FileChange("b", b"old\n", "100644"), FileChange("a", b"fresh\n", "100644")]


def test_non_utf8_bytes_carried_as_surrogate_escapes_come_back_unchanged() -> None:
    latin1 = "caf\udce9"  # b"caf\xe9" decoded with errors="surrogateescape"
    patch = diff(
        "diff --git a/f b/f", "--- a/f", "+++ b/f", "@@ -1 +1 @@", f"-{latin1}", "+caf\udce8"
    )
    assert one_change(patch, ("f", b"caf\xe9\n")).new_content == b"caf\xe8\n"


def test_a_final_line_missing_from_the_diff_text_still_ends_with_a_newline() -> None:
    patch = diff("diff --git a/f b/f", "--- a/f", "+++ b/f", "@@ -1 +1 @@", "-a", "+b").rstrip("\n")
    assert one_change(patch, ("f", b"a\n")).new_content == b"b\n"


def test_blank_lines_after_a_section_carry_nothing_and_are_accepted() -> None:
    patch = diff("diff --git a/x b/y", "similarity index 100%", "rename from x", "rename to y", "")
    assert one_change(patch, ("x", b"1\n")) == FileChange("y", b"1\n", "100644", "x")


def test_lone_carriage_returns_and_unicode_line_separators_stay_inside_their_line() -> None:
    # str.splitlines() would cut these lines apart; git (and we) split after "\n" only.
    odd = "a\rb\x0bc\x1cd\u2028e\x85f"
    patch = diff("diff --git a/f b/f", "--- a/f", "+++ b/f", "@@ -1 +1 @@", f"-{odd}", "+fine")
    assert one_change(patch, ("f", f"{odd}\n".encode())).new_content == b"fine\n"
