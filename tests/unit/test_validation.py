"""validate() and touched_paths(): every refusal, with the reason code a user's report shows."""

import base64
import zlib

import pytest

from bot.core.errors import InvalidDiff
from bot.core.globs import selected
from proposals.validation import BaseFile, FileChange, Limits, touched_paths, validate


def diff(*lines: str) -> str:
    return "".join(line + "\n" for line in lines)


def base(*files: tuple[str, bytes] | tuple[str, bytes, str]) -> dict[str, BaseFile]:
    return {f[0]: BaseFile(f[0], f[2] if len(f) == 3 else "100644", f[1]) for f in files}


def refusal(
    patch: str, base_files: dict[str, BaseFile] | None = None, **limits: object
) -> InvalidDiff:
    with pytest.raises(InvalidDiff) as caught:
        validate(patch, base_files or {}, Limits(**limits))  # type: ignore[arg-type]
    return caught.value


def new_file(path: str, *lines: str, mode: str = "100644") -> str:
    return diff(
        f"diff --git a/{path} b/{path}",
        f"new file mode {mode}",
        "--- /dev/null",
        f"+++ b/{path}",
        f"@@ -0,0 +1,{len(lines)} @@",
        *(f"+{line}" for line in lines),
    )


def binary_patch(data: bytes) -> list[str]:
    """A `literal` block encoded as git encodes it: zlib, then base85 lines of up to 52 bytes."""
    deflated = zlib.compress(data)
    lines = [f"literal {len(data)}"]
    for start in range(0, len(deflated), 52):
        chunk = deflated[start : start + 52]
        letter = (
            chr(ord("A") + len(chunk) - 1) if len(chunk) <= 26 else chr(ord("a") + len(chunk) - 27)
        )
        lines.append(letter + base64.b85encode(chunk, pad=True).decode())
    return ["GIT binary patch", *lines, ""]


MODIFY_A = diff(
    "diff --git a/a.py b/a.py",
    "index 1111111..2222222 100644",
    "--- a/a.py",
    "+++ b/a.py",
    "@@ -1,3 +1,3 @@",
    " one",
    "-two",
    "+TWO",
    " three",
)
BASE_A = base(("a.py", b"one\ntwo\nthree\n"))


def test_the_reference_diff_is_accepted() -> None:
    assert validate(MODIFY_A, BASE_A, Limits()) == [
        FileChange("a.py", b"one\nTWO\nthree\n", "100644")
    ]


@pytest.mark.parametrize("text", ["", "\n", "  \n\t\n"])
def test_an_empty_diff_is_refused(text: str) -> None:
    error = refusal(text)
    assert error.reason_code == "empty_diff"
    assert "nothing to commit" in error.message
    with pytest.raises(InvalidDiff, match="empty"):
        touched_paths(text)


def test_a_diff_over_the_size_limit_is_refused_before_it_is_read() -> None:
    error = refusal(MODIFY_A, BASE_A, max_diff_bytes=len(MODIFY_A) - 1)
    assert error.reason_code == "diff_too_large"
    assert f"{len(MODIFY_A):,} bytes" in error.message


@pytest.mark.parametrize(
    "text",
    [
        "just some words\n",
        # a plain unified diff: no `diff --git` header, so no modes and no safe names
        diff("--- a/a.py", "+++ b/a.py", "@@ -1 +1 @@", "-one", "+ONE"),
        # text before the first file
        "Subject: a patch\n" + MODIFY_A,
        # a hunk body shorter than its header says
        MODIFY_A.replace("@@ -1,3 +1,3 @@", "@@ -1,4 +1,4 @@"),
        # a hunk without `---`/`+++` lines
        diff("diff --git a/a.py b/a.py", "@@ -1 +1 @@", "-one", "+ONE"),
        # a quoted name that never ends
        diff('diff --git "a/x b/x', "deleted file mode 100644"),
        # "no newline" on a line that is not the last of its side
        diff(
            "diff --git a/a.py b/a.py",
            "--- a/a.py",
            "+++ b/a.py",
            "@@ -1,2 +1,1 @@",
            "-one",
            "\\ No newline at end of file",
            "-two",
            "+x",
        ),
        # an `old mode` without its `new mode`
        diff("diff --git a/a.py b/a.py", "old mode 100644"),
    ],
    ids=[
        "words",
        "plain-unified",
        "preamble",
        "short-hunk",
        "no-names",
        "bad-quote",
        "misplaced-no-newline",
        "half-mode-change",
    ],
)
def test_text_that_is_not_a_well_formed_git_diff_is_unparsable(text: str) -> None:
    assert refusal(text, BASE_A).reason_code == "unparsable_diff"
    with pytest.raises(InvalidDiff) as caught:
        touched_paths(text)
    assert caught.value.reason_code == "unparsable_diff"


def test_a_stray_line_after_a_hunk_is_unparsable_rather_than_ignored() -> None:
    # A parser that dropped "+sneaky" silently would commit less than the diff shows.
    error = refusal(MODIFY_A + "+sneaky\n", BASE_A)
    assert error.reason_code == "unparsable_diff"
    assert "+sneaky" in error.message


@pytest.mark.parametrize("path", ["/etc/passwd", "/abs/file.py"])
def test_an_absolute_path_is_refused(path: str) -> None:
    error = refusal(new_file(path, "x"))  # git would write `+++ b//etc/passwd`
    assert error.reason_code == "absolute_path"
    assert f"`{path}`" in error.message


def test_a_parent_directory_component_is_refused() -> None:
    error = refusal(new_file("src/../../outside.py", "x"))
    assert error.reason_code == "parent_path"
    assert "`src/../../outside.py`" in error.message


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        "vendor/lib/.git/hooks/post-checkout",
        ".GIT/config",
        "sub/.Git/hooks/pre-commit",
        ".git./config",  # NTFS drops trailing dots and spaces
        ".git /config",
        "GIT~1/config",  # NTFS short name of .git
        ".g\u200cit/config",  # HFS+ ignores zero-width characters
    ],
)
def test_anything_under_a_git_directory_is_refused_at_any_depth(path: str) -> None:
    error = refusal(new_file(path, "x"))
    assert error.reason_code == "git_dir"
    assert f"`{path}`" in error.message
    with pytest.raises(InvalidDiff, match="git's own"):
        touched_paths(new_file(path, "x"))


def symlink(path: str, target: str) -> str:
    return diff(
        f"diff --git a/{path} b/{path}",
        "new file mode 120000",
        "--- /dev/null",
        f"+++ b/{path}",
        "@@ -0,0 +1 @@",
        f"+{target}",
        "\\ No newline at end of file",
    )


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("link", "/etc/passwd"),
        ("link", ".."),
        ("docs/link", "../../secrets"),
        ("a/link", "b/../../.."),
    ],
)
def test_a_symlink_pointing_outside_the_repository_is_refused(path: str, target: str) -> None:
    error = refusal(symlink(path, target))
    assert error.reason_code == "symlink_outside_repo"
    assert f"`{path}`" in error.message and f"`{target}`" in error.message


def test_a_symlink_inside_the_repository_is_accepted() -> None:
    [change] = validate(symlink("docs/link", "../README.md"), {}, Limits())
    assert change == FileChange("docs/link", b"../README.md", "120000")


def test_a_symlink_into_the_git_directory_is_refused() -> None:
    assert refusal(symlink("hook", "sub/../.git/hooks")).reason_code == "git_dir"


def test_renaming_a_symlink_where_its_target_escapes_is_refused() -> None:
    # `docs/link -> ../README.md` is fine; the same target from the top climbs out.
    move = diff(
        "diff --git a/docs/link b/link",
        "similarity index 100%",
        "rename from docs/link",
        "rename to link",
    )
    base_files = base(("docs/link", b"../README.md", "120000"))
    assert refusal(move, base_files).reason_code == "symlink_outside_repo"


def test_names_that_only_resemble_git_are_allowed() -> None:
    for path in ["docs/.gitignore", ".github/x.md", "git/config", ".gitx/a", "a.git/b"]:
        [change] = validate(new_file(path, "x"), {}, Limits())
        assert change.path == path


@pytest.mark.parametrize(
    "name", ["a\nb.py", "tab\there.txt", "esc\x1b[31m.md", "del\x7f", "c1\x85x"]
)
def test_a_file_name_with_a_control_character_has_its_own_reason(name: str) -> None:
    patch = diff(
        f'diff --git "a/{_git_quote(name)}" "b/{_git_quote(name)}"',
        "new file mode 100644",
        "--- /dev/null",
        f'+++ "b/{_git_quote(name)}"',
        "@@ -0,0 +1 @@",
        "+x",
    )
    error = refusal(patch)
    assert error.reason_code == "bad_file_name"
    assert repr(name) in error.message


def _git_quote(name: str) -> str:
    """git's quoting (quote.c): C escapes for the usual controls, octal for other bytes."""
    escapes = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v"}
    escapes |= {"\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
    out = []
    for char in name:
        if char in escapes:
            out.append(escapes[char])
        elif ord(char) < 0x20 or ord(char) >= 0x7F:
            out.extend(f"\\{byte:03o}" for byte in char.encode())
        else:
            out.append(char)
    return "".join(out)


def test_two_links_made_by_one_proposal_are_followed_through_each_other() -> None:
    # Each looks harmless alone: up -> d (from d/e), esc -> d/e/up/../.. lexically is d.
    patch = symlink("d/e/up", "..") + symlink("d/e/esc", "up/../..")
    error = refusal(patch)
    assert error.reason_code == "symlink_outside_repo"
    assert "`d/e/esc` points to `up/../..` (through the link `d/e/up`)" in error.message


def test_a_chain_of_links_ending_in_the_git_directory_is_refused() -> None:
    patch = symlink("a/top", "..") + symlink("a/b/hooks", "../top/.git/hooks")
    assert refusal(patch).reason_code == "git_dir"


def test_a_new_link_is_followed_through_links_already_at_the_base() -> None:
    base_links = {"d/up": b".."}
    patch = symlink("d/esc", "up/..")
    with pytest.raises(InvalidDiff) as caught:
        validate(patch, {}, Limits(), base_links)
    assert caught.value.reason_code == "symlink_outside_repo"
    [change] = validate(symlink("d/fine", "up/README.md"), {}, Limits(), base_links)
    assert change.path == "d/fine"


def test_retargeting_a_base_link_that_others_go_through_is_refused() -> None:
    # At the base `d/e/esc -> up/..` ends in d; once up -> .. it ends outside.
    retarget = diff(
        "diff --git a/d/e/up b/d/e/up",
        "index 1111111..2222222 120000",
        "--- a/d/e/up",
        "+++ b/d/e/up",
        "@@ -1 +1 @@",
        "-.",
        "\\ No newline at end of file",
        "+../..",
        "\\ No newline at end of file",
    )
    files = base(("d/e/up", b".", "120000"))
    with pytest.raises(InvalidDiff) as caught:
        validate(retarget, files, Limits(), {"d/e/esc": b"up/../.."})
    assert caught.value.reason_code == "symlink_outside_repo"
    assert "`d/e/esc`" in caught.value.message


def test_a_link_that_was_already_bad_at_the_base_is_not_the_proposals_doing() -> None:
    [change] = validate(new_file("new.txt", "x"), {}, Limits(), {"old": b"../../etc"})
    assert change.path == "new.txt"


def test_links_that_loop_resolve_to_nothing_and_are_not_outside() -> None:
    [one, two] = validate(symlink("a", "b") + symlink("b", "a"), {}, Limits())
    assert (one.path, two.path) == ("a", "b")


def test_a_file_over_the_size_limit_is_refused() -> None:
    error = refusal(new_file("big.txt", "x" * 20), max_file_bytes=20)
    assert error.reason_code == "file_too_large"
    assert "`big.txt` would be 21 bytes" in error.message


def test_a_binary_literal_over_the_size_limit_is_refused_before_it_is_inflated() -> None:
    patch = diff("diff --git a/blob b/blob", "new file mode 100644", *binary_patch(b"\0" * 5000))
    error = refusal(patch, allow_binary=True, max_file_bytes=4999)
    assert error.reason_code == "file_too_large"
    assert "5,000 bytes" in error.message


def test_a_binary_patch_is_refused_unless_binary_changes_are_allowed() -> None:
    patch = diff(
        "diff --git a/logo.png b/logo.png",
        "new file mode 100644",
        "index 0000000000000000000000000000000000000000..1111111111111111111111111111111111111111",
        *binary_patch(b"\x89PNG\r\n\x1a\n\0\0"),
    )
    error = refusal(patch)
    assert error.reason_code == "binary_not_allowed"
    assert "`logo.png`" in error.message
    [change] = validate(patch, {}, Limits(allow_binary=True))
    assert change == FileChange("logo.png", b"\x89PNG\r\n\x1a\n\0\0", "100644")


def test_a_binary_change_without_data_is_refused_even_when_binary_is_allowed() -> None:
    patch = diff(
        "diff --git a/logo.png b/logo.png",
        "index 1111111..2222222 100644",
        "Binary files a/logo.png and b/logo.png differ",
    )
    base_files = base(("logo.png", b"\0old"))
    assert refusal(patch, base_files).reason_code == "binary_not_allowed"
    error = refusal(patch, base_files, allow_binary=True)
    assert error.reason_code == "unparsable_diff"
    assert "--binary" in error.message


def test_deleting_a_binary_file_is_not_a_binary_change() -> None:
    patch = diff(
        "diff --git a/logo.png b/logo.png",
        "deleted file mode 100644",
        "index 1111111..0000000",
        "Binary files a/logo.png and /dev/null differ",
    )
    changes = validate(patch, base(("logo.png", b"\0old")), Limits())
    assert changes == [FileChange("logo.png", None, "100644")]


def test_a_path_outside_the_allowed_globs_is_refused() -> None:
    error = refusal(MODIFY_A, BASE_A, allowed_globs=("src/**", "*.md"))
    assert error.reason_code == "path_not_allowed"
    assert "`a.py` is outside the paths this job may change (`src/**`, `*.md`)" in error.message
    assert validate(MODIFY_A, BASE_A, Limits(allowed_globs=("*.py",)))


def test_a_path_inside_a_protected_glob_is_refused() -> None:
    error = refusal(MODIFY_A, BASE_A, protected_globs=("docs/**", "[ab].py"))
    assert error.reason_code == "path_not_allowed"
    assert "`a.py` is protected (`[ab].py`)" in error.message


def test_renaming_a_file_out_of_the_allowed_paths_is_refused() -> None:
    move = diff(
        "diff --git a/src/a.py b/a.py",
        "similarity index 100%",
        "rename from src/a.py",
        "rename to a.py",
    )
    base_files = base(("src/a.py", b"x\n"))
    assert refusal(move, base_files, allowed_globs=("src/**",)).reason_code == "path_not_allowed"


@pytest.mark.parametrize("path", [".github/workflows/ci.yml", ".GitHub/Workflows/deploy.yaml"])
def test_a_workflow_change_is_refused_without_the_permission(path: str) -> None:
    error = refusal(new_file(path, "on: push"))
    assert error.reason_code == "workflow_not_allowed"
    assert f"`{path}`" in error.message
    assert validate(new_file(path, "on: push"), {}, Limits(allow_workflows=True))


def test_other_files_under_github_are_not_workflows() -> None:
    assert validate(new_file(".github/dependabot.yml", "version: 2"), {}, Limits())


def test_a_changed_context_line_is_a_context_mismatch_naming_file_and_hunk() -> None:
    base_files = base(("a.py", b"one\n2\nthree\n"))
    error = refusal(MODIFY_A, base_files)
    assert error.reason_code == "context_mismatch"
    assert error.message == (
        "Hunk 1 of `a.py` (@@ -1,3 +1,3 @@) does not match the base file at line 2, "
        "so the proposal was not made against the base commit."
    )


def test_a_hunk_at_the_wrong_position_is_a_context_mismatch() -> None:
    base_files = base(("a.py", b"zero\none\ntwo\nthree\n"))  # the lines moved down by one
    assert refusal(MODIFY_A, base_files).reason_code == "context_mismatch"


def test_a_stated_old_mode_that_is_not_the_base_mode_is_a_context_mismatch() -> None:
    chmod = diff("diff --git a/run.sh b/run.sh", "old mode 100644", "new mode 100755")
    error = refusal(chmod, base(("run.sh", b"echo\n", "100755")))
    assert error.reason_code == "context_mismatch"
    assert "100755 at the base" in error.message


def test_deleting_a_file_with_lines_the_diff_does_not_remove_is_a_context_mismatch() -> None:
    delete = diff(
        "diff --git a/a.py b/a.py",
        "deleted file mode 100644",
        "--- a/a.py",
        "+++ /dev/null",
        "@@ -1 +0,0 @@",
        "-one",
    )
    error = refusal(delete, base(("a.py", b"one\ntwo\n")))
    assert error.reason_code == "context_mismatch"


def test_changing_a_file_absent_at_the_base_is_refused() -> None:
    error = refusal(MODIFY_A, {})
    assert error.reason_code == "missing_base_file"
    assert error.message == "The diff changes `a.py`, which does not exist at the base commit."


def test_deleting_or_renaming_a_file_absent_at_the_base_is_refused() -> None:
    move = diff("diff --git a/x b/y", "similarity index 100%", "rename from x", "rename to y")
    assert refusal(move, {}).reason_code == "missing_base_file"


def test_creating_a_file_that_exists_at_the_base_is_refused() -> None:
    error = refusal(new_file("a.py", "x"), BASE_A)
    assert error.reason_code == "file_exists"
    assert error.message == "The diff creates `a.py`, which already exists at the base commit."


def test_renaming_onto_an_existing_file_is_refused() -> None:
    move = diff("diff --git a/x b/a.py", "similarity index 100%", "rename from x", "rename to a.py")
    assert refusal(move, BASE_A | base(("x", b"x\n"))).reason_code == "file_exists"


def test_changing_one_path_twice_is_unparsable() -> None:
    error = refusal(MODIFY_A + MODIFY_A, BASE_A)
    assert error.reason_code == "unparsable_diff"
    assert "`a.py` more than once" in error.message


def test_writing_a_file_inside_a_file_the_diff_also_writes_is_unparsable() -> None:
    error = refusal(new_file("x", "1") + new_file("x/y", "2"))
    assert error.reason_code == "unparsable_diff"


def test_a_submodule_change_is_unparsable() -> None:
    bump = diff(
        "diff --git a/vendor/lib b/vendor/lib",
        "index 1111111..2222222 160000",
        "--- a/vendor/lib",
        "+++ b/vendor/lib",
        "@@ -1 +1 @@",
        "-Subproject commit 1111111111111111111111111111111111111111",
        "+Subproject commit 2222222222222222222222222222222222222222",
    )
    error = refusal(bump, base(("vendor/lib", b"", "160000")))
    assert error.reason_code == "unparsable_diff"
    assert "submodule" in error.message


@pytest.mark.parametrize(
    ("glob", "allowed", "refused"),
    [
        ("*.py", ["a.py", "src/pkg/a.py"], ["a.pyc", "docs/x.md"]),
        ("src/pkg", ["src/pkg/a.py", "src/pkg/sub/b.md"], ["src/other.py", "lib/src/pkg/a.py"]),
        ("src/**/*.py", ["src/a.py", "src/x/y/a.py"], ["src/a.md", "a.py"]),
    ],
)
def test_allowed_globs_follow_the_agents_rules_for_picking_files(
    glob: str, allowed: list[str], refused: list[str]
) -> None:
    for path in allowed:
        assert validate(new_file(path, "x"), {}, Limits(allowed_globs=(glob,)))
        assert selected(path, [glob])
    for path in refused:
        assert refusal(new_file(path, "x"), allowed_globs=(glob,)).reason_code == "path_not_allowed"
        assert not selected(path, [glob])


def test_touched_paths_lists_every_path_read_or_created_once_in_diff_order() -> None:
    move = diff(
        "diff --git a/old b/new", "similarity index 100%", "rename from old", "rename to new"
    )
    assert touched_paths(MODIFY_A + move + new_file("made", "x") + MODIFY_A) == [
        "a.py",
        "old",
        "new",
        "made",
    ]
