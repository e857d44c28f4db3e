"""Applying a file's hunks (text) or git binary data to its bytes at the base (pure).

Text hunks apply strictly where their headers say, as ``git apply`` does without fuzz or
offset search: every context and removed line must equal, byte for byte, the base line at
the stated position. A line is everything up to and including ``\\n``; a ``\\r`` before it
belongs to the line, so CRLF files come out exactly as they went in, and only the last line
of a file can lack its ``\\n`` (``\\ No newline at end of file`` in the diff).

Hunks come in file order and never overlap. A hunk whose old side is empty inserts after
line ``old_start`` (``0``: at the top). The new-side start must agree with the old-side
start plus what earlier hunks added and removed; otherwise the header is inconsistent.

Binary data is a zlib stream holding either the whole new file (``literal``) or a git pack
delta against the base (``delta``: copy-from-base and insert instructions).
"""

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# The old side of a hunk is its context and removed lines, the new side context and added.
_OLD_SIDE = re.compile(rb"^[ -]([^\n]*\n)", re.MULTILINE)
_NEW_SIDE = re.compile(rb"^[ +]([^\n]*\n)", re.MULTILINE)


class HunkMismatch(ValueError):
    """The hunk does not fit the base file: the diff was not made against these bytes."""

    def __init__(self, detail: str, hunk: "Hunk | None" = None, number: int = 0) -> None:
        super().__init__(f"hunk {number} {detail}" if hunk else detail)
        self.detail = detail  # completes a sentence whose subject is the hunk or binary change
        self.hunk = hunk  # None for binary data
        self.number = number


class MalformedHunk(ValueError):
    """The hunk or binary data contradicts itself, whatever the base file holds."""


class TooLarge(ValueError):
    """Binary data would make a file over the size limit; nothing that large was built."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


@dataclass(frozen=True)
class Hunk:
    """One hunk, its lines kept as the diff wrote them (one ``bytes``, not one object per line).

    ``body`` is the hunk's lines after its header, each starting with `` ``, ``-`` or ``+``
    (a bare ``\n`` or ``\r\n`` is an empty context line, as git reads it), and a ``\\``
    line (``\\ No newline at end of file``) takes the ``\n`` off the line before it. The
    parser has checked the body against the header's counts; :meth:`sides` reads it again
    only when the hunk is applied, so a large diff holds no per-line objects meanwhile.
    """

    old_start: int
    old_length: int
    new_start: int
    new_length: int
    body: bytes

    @property
    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_length} +{self.new_start},{self.new_length} @@"

    def sides(self) -> tuple[list[bytes], list[bytes]]:
        """The lines the hunk expects at the base (context and removed) and writes instead
        (context and added), each with its ``\n`` unless a marker took it off."""
        body = self.body
        if body.endswith(b"\n") and b"\n\\" not in body and not body.startswith(b"\\"):
            # The common body: the regex engine splits it; a line it did not take (a blank
            # context line) shows as a count short of the header's, and the walk below runs.
            old, new = _OLD_SIDE.findall(body), _NEW_SIDE.findall(body)
            if len(old) == self.old_length and len(new) == self.new_length:
                return old, new
        old = []
        new = []
        last: tuple[list[bytes], ...] = ()
        for raw in split_lines(self.body):
            kind = raw[:1]
            text = raw[1:] if raw not in (b"\n", b"\r\n") else raw
            if kind == b"\\":
                for side in last:
                    side[-1] = side[-1].removesuffix(b"\n")
                last = ()
                continue
            if not text.endswith(b"\n"):
                text += b"\n"  # the diff's own last line may lack its newline
            if kind == b"-":
                last = (old,)
            elif kind == b"+":
                last = (new,)
            else:
                last = (old, new)
            for side in last:
                side.append(text)
        return old, new


def split_lines(data: bytes) -> list[bytes]:
    """Lines as git counts them: split after each ``\\n`` only (never at a lone ``\\r``)."""
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def apply_hunks(base: bytes, hunks: Sequence[Hunk]) -> bytes:
    """The file after ``hunks``; raises HunkMismatch or MalformedHunk (see the module rules)."""
    old = split_lines(base)
    out: list[bytes] = []
    copied = 0  # base lines before this index are already in `out` or replaced
    shift = 0  # lines added minus lines removed by the hunks so far
    for number, hunk in enumerate(hunks, 1):
        start = _start_index(hunk.old_start, hunk.old_length, number)
        if start < copied:
            raise HunkMismatch("starts inside or before the previous hunk", hunk, number)
        expected, replacement = hunk.sides()
        if start + len(expected) > len(old):
            raise HunkMismatch(
                f"runs past the end of the base file ({len(old)} lines)", hunk, number
            )
        if old[start : start + len(expected)] != expected:
            offset = next(i for i, text in enumerate(expected) if old[start + i] != text)
            raise HunkMismatch(
                f"does not match the base file at line {start + offset + 1}", hunk, number
            )
        if _start_index(hunk.new_start, hunk.new_length, number) != start + shift:
            raise MalformedHunk(
                f"hunk {number} ({hunk.header}) says it lands at new line {hunk.new_start}, "
                "which does not follow from its old line and the hunks before it"
            )
        out += old[copied:start]
        out += replacement
        copied = start + len(expected)
        shift += hunk.new_length - hunk.old_length
        if out and not out[-1].endswith(b"\n") and (copied < len(old) or number < len(hunks)):
            raise HunkMismatch(
                "ends the file without a newline, but the file goes on", hunk, number
            )
    out += old[copied:]
    return b"".join(out)


def _start_index(start: int, length: int, number: int) -> int:
    """0-based index of the hunk's first line (an empty side: of the line after it)."""
    if length == 0:
        return start
    if start == 0:
        raise MalformedHunk(f"hunk {number} has lines but starts at line 0")
    return start - 1


def inflate(deflated: bytes, size: int) -> bytes:
    """The ``size`` bytes a binary block's zlib stream holds, never inflating more."""
    stream = zlib.decompressobj()
    try:
        data = stream.decompress(deflated, size + 1)
        if not stream.eof and len(data) <= size:
            data += stream.decompress(stream.unconsumed_tail, 1)
    except zlib.error as exc:
        raise MalformedHunk(f"binary data is not a valid zlib stream ({exc})") from None
    if len(data) != size or not stream.eof or stream.unused_data:
        raise MalformedHunk(f"binary data does not inflate to the {size} bytes it announces")
    return data


def apply_delta(base: bytes, delta: bytes, max_size: int) -> bytes:
    """Apply a git pack delta (the inflated ``delta`` block) to ``base``.

    Raises TooLarge before building a result over ``max_size``: copies from the base make a
    small delta able to describe a huge file.
    """
    source_size, pos = _varint(delta, 0)
    target_size, pos = _varint(delta, pos)
    if target_size > max_size:
        raise TooLarge(target_size)
    if source_size != len(base):
        raise HunkMismatch(f"is a delta for a {source_size}-byte file, not {len(base)} bytes")
    out = bytearray()
    while pos < len(delta):
        op = delta[pos]
        pos += 1
        if op & 0x80:  # copy: offset in up to 4 bytes, size in up to 3, flagged by bits
            offset, pos = _flagged(delta, pos, op, bits=range(4))
            size, pos = _flagged(delta, pos, op >> 4, bits=range(3))
            size = size or 0x10000
            if offset + size > len(base):
                raise HunkMismatch("copies bytes past the end of the base file")
            out += base[offset : offset + size]
        elif op:  # insert the next `op` bytes
            if pos + op > len(delta):
                raise MalformedHunk("binary delta ends inside an insert")
            out += delta[pos : pos + op]
            pos += op
        else:
            raise MalformedHunk("binary delta has a reserved zero opcode")
        if len(out) > target_size:
            raise MalformedHunk(f"binary delta makes more than the {target_size} bytes announced")
    if len(out) != target_size:
        raise MalformedHunk(f"binary delta makes {len(out)} bytes, not the {target_size} announced")
    return bytes(out)


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise MalformedHunk("binary delta header is truncated")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def _flagged(data: bytes, pos: int, flags: int, bits: range) -> tuple[int, int]:
    value = 0
    for bit in bits:
        if flags & (1 << bit):
            if pos >= len(data):
                raise MalformedHunk("binary delta ends inside a copy")
            value |= data[pos] << (8 * bit)
            pos += 1
    return value, pos
