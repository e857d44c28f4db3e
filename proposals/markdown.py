"""Putting untrusted text into GitHub markdown safely (pure).

Commands, instructions, file names and error messages come from people and agents. In a
comment they must read as text: no table broken by a ``|``, no fence closed early by a
line of backticks, no hidden HTML, no ``@mention`` pinging someone from inside a message.
"""

import re

ELLIPSIS = "…"


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, marked with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + ELLIPSIS


def one_line(text: str) -> str:
    """Collapse whitespace (newlines included) to single spaces."""
    return " ".join(text.split())


def _longest_backtick_run(text: str) -> int:
    return max((len(m) for m in re.findall(r"`+", text)), default=0)


def code_span(text: str) -> str:
    """Inline code that shows ``text`` verbatim, whatever backticks it holds."""
    text = one_line(text)
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def code_block(text: str, language: str = "") -> str:
    """A fenced block that no line of ``text`` can close early."""
    fence = "`" * max(3, _longest_backtick_run(text) + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{language}\n{body}{fence}"


def table_cell(text: str, limit: int = 120) -> str:
    """One markdown table cell: one line, pipes and HTML escaped, mentions defused, bounded."""
    cell = truncate(one_line(text), limit)
    cell = cell.replace("\\", "\\\\").replace("|", "\\|")
    cell = cell.replace("<", "&lt;").replace(">", "&gt;")
    # A zero-width joiner after '@' keeps "@someone" readable without notifying them.
    return cell.replace("@", "@\u200d")


def plain(text: str, limit: int = 300) -> str:
    """A sentence of untrusted text for running prose: one line, bounded, no HTML, no pings."""
    line = truncate(one_line(text), limit)
    return line.replace("<", "&lt;").replace(">", "&gt;").replace("@", "@\u200d")
