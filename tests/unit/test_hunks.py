"""Hunk application: strict positions, exact bytes, bounded binary data."""

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from proposals.hunks import (
    Hunk,
    HunkMismatch,
    MalformedHunk,
    TooLarge,
    apply_delta,
    apply_hunks,
    inflate,
    split_lines,
)


@dataclass(frozen=True)
class HunkLine:
    kind: str  # " ", "-" or "+"
    text: bytes  # the line's bytes as in the file, with its "\n" unless it ends the file


def hunk_of(old_start: int, new_start: int, lines: Sequence[HunkLine]) -> Hunk:
    """A hunk from its lines, counts derived."""
    body = bytearray()
    for line in lines:
        body += line.kind.encode() + line.text
        if not line.text.endswith(b"\n"):
            body += b"\n\\ No newline at end of file\n"
    old = sum(1 for line in lines if line.kind != "+")
    new = sum(1 for line in lines if line.kind != "-")
    return Hunk(old_start, old, new_start, new, bytes(body))


def hunk(old_start: int, new_start: int, *lines: str) -> Hunk:
    """A hunk from diff-like lines (" ctx\\n", "-old\\n", "+new\\n"), counts derived."""
    return hunk_of(old_start, new_start, [HunkLine(line[0], line[1:].encode()) for line in lines])


def test_split_lines_splits_after_newlines_only_and_keeps_carriage_returns() -> None:
    assert split_lines(b"a\r\nb\rc\nd") == [b"a\r\n", b"b\rc\n", b"d"]
    assert split_lines(b"a\n") == [b"a\n"]
    assert split_lines(b"") == []


def test_a_hunk_replaces_lines_at_its_stated_position() -> None:
    base = b"one\ntwo\nthree\n"
    assert apply_hunks(base, [hunk(1, 1, " one\n", "-two\n", "+2\n", " three\n")]) == (
        b"one\n2\nthree\n"
    )


def test_a_hunk_is_not_searched_for_when_its_lines_sit_elsewhere() -> None:
    # The lines exist one line further down: git apply with fuzz would find them; we refuse.
    base = b"zero\none\ntwo\n"
    with pytest.raises(HunkMismatch) as caught:
        apply_hunks(base, [hunk(1, 1, " one\n", "-two\n")])
    assert caught.value.number == 1
    assert "line 1" in caught.value.detail


def test_several_hunks_apply_in_order_with_the_shift_of_earlier_ones() -> None:
    base = b"".join(f"{i}\n".encode() for i in range(1, 11))
    hunks = [hunk(2, 2, " 2\n", "+2.5\n", " 3\n"), hunk(8, 9, " 8\n", "-9\n", " 10\n")]
    assert apply_hunks(base, hunks) == b"1\n2\n2.5\n3\n4\n5\n6\n7\n8\n10\n"


def test_overlapping_hunks_are_refused() -> None:
    base = b"a\nb\nc\n"
    with pytest.raises(HunkMismatch, match="previous hunk"):
        apply_hunks(base, [hunk(1, 1, " a\n", "-b\n"), hunk(2, 1, "-b\n")])


def test_a_hunk_running_past_the_end_of_the_file_is_refused() -> None:
    with pytest.raises(HunkMismatch, match="past the end"):
        apply_hunks(b"a\n", [hunk(1, 1, " a\n", "-b\n")])


def test_a_new_side_start_that_does_not_follow_from_the_old_side_is_malformed() -> None:
    base = b"a\nb\n"
    with pytest.raises(MalformedHunk, match="new line 5"):
        apply_hunks(base, [hunk(1, 5, " a\n", "-b\n")])


def test_a_hunk_with_lines_cannot_start_at_line_zero() -> None:
    with pytest.raises(MalformedHunk, match="line 0"):
        apply_hunks(b"a\n", [hunk(0, 0, "-a\n")])


def test_adding_a_newline_to_a_last_line_that_had_none() -> None:
    assert apply_hunks(b"a\nb", [hunk(1, 1, " a\n", "-b", "+b\n")]) == b"a\nb\n"


def test_removing_the_newline_of_the_last_line() -> None:
    assert apply_hunks(b"a\nb\n", [hunk(1, 1, " a\n", "-b\n", "+b")]) == b"a\nb"


def test_a_context_last_line_without_newline_must_lack_it_in_the_base_too() -> None:
    assert apply_hunks(b"a\nb", [hunk(1, 1, "-a\n", "+A\n", " b")]) == b"A\nb"
    with pytest.raises(HunkMismatch, match="line 2"):
        apply_hunks(b"a\nb\n", [hunk(1, 1, "-a\n", "+A\n", " b")])


def test_a_line_without_newline_cannot_end_the_file_when_the_file_goes_on() -> None:
    with pytest.raises(HunkMismatch, match="goes on"):
        apply_hunks(b"a\nb\n", [hunk(1, 1, "-a\n", "+A")])


def test_crlf_lines_are_matched_and_kept_byte_for_byte() -> None:
    base = b"one\r\ntwo\r\nthree\n"
    result = apply_hunks(base, [hunk(1, 1, " one\r\n", "-two\r\n", "+TWO\r\n", " three\n")])
    assert result == b"one\r\nTWO\r\nthree\n"
    with pytest.raises(HunkMismatch):  # "one\n" is not "one\r\n"
        apply_hunks(base, [hunk(1, 1, "-one\n")])


def test_zero_context_hunks_insert_after_their_old_line() -> None:
    base = b"a\nb\nc\n"
    top = hunk_of(0, 1, (HunkLine("+", b"top\n"),))
    after_b = hunk_of(2, 4, (HunkLine("+", b"mid\n"),))
    end = hunk_of(3, 6, (HunkLine("+", b"end\n"),))
    assert apply_hunks(base, [top, after_b, end]) == b"top\na\nb\nmid\nc\nend\n"


def test_zero_context_deletion_and_insertion_past_the_end_is_refused() -> None:
    assert apply_hunks(b"a\nb\nc\n", [hunk_of(2, 1, (HunkLine("-", b"b\n"),))]) == b"a\nc\n"
    with pytest.raises(HunkMismatch, match="past the end"):
        apply_hunks(b"a\n", [hunk_of(4, 5, (HunkLine("+", b"x\n"),))])


def test_a_file_made_from_nothing_and_emptied_entirely() -> None:
    assert apply_hunks(b"", [hunk(0, 1, "+a\n", "+b")]) == b"a\nb"
    assert (
        apply_hunks(b"a\nb", [hunk_of(1, 0, (HunkLine("-", b"a\n"), HunkLine("-", b"b")))]) == b""
    )


def test_inflate_returns_exactly_the_announced_bytes() -> None:
    assert inflate(zlib.compress(b"hello"), 5) == b"hello"


def test_inflate_never_inflates_past_the_announced_size() -> None:
    bomb = zlib.compress(b"\0" * 10_000_000)
    with pytest.raises(MalformedHunk, match="10 bytes"):
        inflate(bomb, 10)


def test_inflate_refuses_data_that_is_not_zlib() -> None:
    with pytest.raises(MalformedHunk, match="zlib"):
        inflate(b"not zlib at all", 3)


def delta(source_size: int, target_size: int, *ops: bytes) -> bytes:
    return bytes([source_size, target_size]) + b"".join(ops)  # sizes < 128: one varint byte


def test_a_delta_copies_from_the_base_and_inserts_new_bytes() -> None:
    base = b"0123456789"
    copy_2_to_6 = bytes([0x80 | 0x01 | 0x10, 2, 4])  # offset 2, size 4
    insert_ab = bytes([2]) + b"ab"
    assert apply_delta(base, delta(10, 6, copy_2_to_6, insert_ab), 100) == b"2345ab"


def test_a_delta_for_another_base_is_a_mismatch() -> None:
    with pytest.raises(HunkMismatch, match="9-byte file"):
        apply_delta(b"0123456789", delta(9, 1, bytes([1]) + b"x"), 100)


def test_a_delta_copying_past_the_base_is_a_mismatch() -> None:
    with pytest.raises(HunkMismatch, match="past the end"):
        apply_delta(b"0123", delta(4, 8, bytes([0x80 | 0x01 | 0x10, 2, 8])), 100)


def test_a_delta_announcing_a_file_over_the_limit_is_refused_before_it_is_built() -> None:
    with pytest.raises(TooLarge) as caught:
        apply_delta(b"0123", delta(4, 120, bytes([0x80 | 0x10, 0])), 100)
    assert caught.value.size == 120


def test_a_delta_with_the_reserved_opcode_is_malformed() -> None:
    with pytest.raises(MalformedHunk, match="reserved"):
        apply_delta(b"0123", delta(4, 1, b"\0"), 100)
