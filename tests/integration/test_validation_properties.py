"""Properties of validate() over diffs written by real git from random edits.

1. Whatever the edits (lines inserted, deleted, changed; files added, deleted, renamed,
   made executable; the last newline toggled; LF, CRLF or both), the diff validates against
   the base and applies back to the edited files byte for byte, modes included.
2. With any one hunk moved (its header's line numbers shifted) or corrupted (one context or
   removed line changed), it never applies: the refusal is a context mismatch. Base lines
   are all distinct, so a moved hunk can never land on lines equal to its own.
"""

import re
from dataclasses import dataclass

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bot.core.errors import InvalidDiff
from proposals.validation import Limits, validate
from tests.integration.test_validation_git import GitDiffer, Tree, base_files, round_trip

pytestmark = pytest.mark.slow  # about 4 s: 120 scratch-repository diffs through real git

NAMES = ("a.txt", "b.md", "dir/c.txt", "dir/sub dir/d e.txt", "é.txt", "dir/ü/f.py", "run.sh")
WORDS = st.text(alphabet="abc xyz\té€", max_size=8)
EOLS = st.sampled_from(["\n", "\r\n"])
EXAMPLES = settings(max_examples=60, deadline=None)


@dataclass
class TextFile:
    lines: list[tuple[str, str]]  # (text, line ending)
    final_newline: bool
    mode: str

    def render(self) -> tuple[bytes, str]:
        text = "".join(line + eol for line, eol in self.lines)
        if self.lines and not self.final_newline:
            text = text.removesuffix(self.lines[-1][1])
        return text.encode(), self.mode


@st.composite
def text_files(draw: st.DrawFn, prefix: str = "L") -> TextFile:
    style = draw(st.sampled_from(["\n", "\r\n", "mixed"]))
    count = draw(st.integers(0, 12))
    lines = [
        (f"{prefix}{i} {draw(WORDS)}", draw(EOLS) if style == "mixed" else style)
        for i in range(count)
    ]
    return TextFile(lines, draw(st.booleans()), draw(st.sampled_from(["100644", "100755"])))


@st.composite
def edited(draw: st.DrawFn, file: TextFile) -> TextFile:
    lines = list(file.lines)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "change", "toggle newline"]))
        at = draw(st.integers(0, len(lines)))
        if op == "insert":
            lines.insert(at, (f"new {draw(WORDS)}", draw(EOLS)))
        elif op == "delete" and at < len(lines):
            del lines[at]
        elif op == "change" and at < len(lines):
            lines[at] = (f"changed {draw(WORDS)}", lines[at][1])
        elif op == "toggle newline":
            file = TextFile(lines, not file.final_newline, file.mode)
    return TextFile(lines, file.final_newline, file.mode)


@st.composite
def edits(draw: st.DrawFn) -> tuple[Tree, Tree]:
    """A random small tree of text files and a random edit of it."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4, unique=True))
    free = [name for name in NAMES if name not in names]
    before = {name: draw(text_files()) for name in names}
    after: dict[str, TextFile] = {}
    for name, file in before.items():
        action = draw(st.sampled_from(["keep", "edit", "delete", "rename", "chmod", "edit+chmod"]))
        if "edit" in action:
            file = draw(edited(file))
        if "chmod" in action:
            file = TextFile(
                file.lines, file.final_newline, "100644" if file.mode != "100644" else "100755"
            )
        if action == "rename" and free:
            name = free.pop(draw(st.integers(0, len(free) - 1)))
            file = draw(st.one_of(st.just(file), edited(file)))
        if action != "delete":
            after[name] = file
    for _ in range(draw(st.integers(0, 2))):
        if free:
            after[free.pop(draw(st.integers(0, len(free) - 1)))] = draw(text_files(prefix="N"))
    old = {name: file.render() for name, file in before.items()}
    new = {name: file.render() for name, file in after.items()}
    assume(old != new)
    return old, new


@pytest.fixture(scope="module")
def differ(tmp_path_factory: pytest.TempPathFactory) -> GitDiffer:
    return GitDiffer(tmp_path_factory.mktemp("git-properties"))


@EXAMPLES
@given(edits())
def test_a_real_git_diff_applies_back_to_the_edited_files(
    differ: GitDiffer, trees: tuple[Tree, Tree]
) -> None:
    before, after = trees
    round_trip(differ, before, after)


HUNK_HEADER = re.compile(r"@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@")


def hunk_lines(diff_lines: list[str]) -> tuple[list[int], list[int]]:
    """Indexes of hunk headers, and of hunk lines that must match the base (" " and "-")."""
    headers, checked, in_hunk = [], [], False
    for index, line in enumerate(diff_lines):
        if line.startswith("diff --git "):
            in_hunk = False
        elif HUNK_HEADER.match(line):
            headers.append(index)
            in_hunk = True
        elif in_hunk and line[:1] in (" ", "-"):
            checked.append(index)
    return headers, checked


@EXAMPLES
@given(edits(), st.data())
def test_a_moved_or_corrupted_hunk_never_applies(
    differ: GitDiffer, trees: tuple[Tree, Tree], data: st.DataObject
) -> None:
    before, after = trees
    diff = differ.diff(before, after)
    lines = diff.split("\n")
    headers, checked = hunk_lines(lines)
    assume(headers)
    corrupt = data.draw(st.booleans(), label="corrupt rather than move") if checked else False
    if corrupt:
        index = data.draw(st.sampled_from(checked), label="corrupted line")
        lines[index] = lines[index][0] + "X" + lines[index][1:]
    else:
        index = data.draw(st.sampled_from(headers), label="moved hunk")
        shift = data.draw(st.integers(1, 3), label="shift")
        lines[index] = HUNK_HEADER.sub(
            lambda m: f"@@ -{int(m[1]) + shift}{m[2] or ''} +{int(m[3]) + shift}{m[4] or ''} @@",
            lines[index],
            count=1,
        )
    broken = "\n".join(lines)
    with pytest.raises(InvalidDiff) as caught:
        validate(broken, base_files(broken, before), Limits())
    assert caught.value.reason_code == "context_mismatch", caught.value.message
