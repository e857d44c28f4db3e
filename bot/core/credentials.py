"""What a credential looks like: one table of shapes, shared by the diff scanner and the redactor.

Each entry is a kind (a stable name that refusals and tests use) and a regular expression
that matches the credential, and nothing around it. The table is deliberately small and
specific, so that a proposal is refused for a real credential and not for ordinary code:

=================  ===========================================================================
kind               shape
=================  ===========================================================================
github_token       ``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_`` and 36 or more letters/digits
github_pat         ``github_pat_`` and 40 or more letters, digits or ``_`` (fine-grained token)
private_key        a PEM header ``-----BEGIN ... PRIVATE KEY-----`` (RSA, EC, OPENSSH, PGP ...)
aws_access_key     ``AKIA``/``ASIA`` and 16 capitals or digits (an AWS access key id)
jwt                three base64url parts, the first two JSON (``eyJ``), dot-separated
slack_token        ``xoxb-``, ``xoxp-``, ``xoxa-``, ``xoxo-``, ``xoxr-``, ``xoxs-`` tokens
slack_webhook      ``https://hooks.slack.com/services/T.../B.../...``
=================  ===========================================================================

Why not a maintained detector (detect-secrets): on diffs its entropy plugins flag ordinary
strings (three hits for ``print("hello world")``), it is ~100x slower than this table, and
it brings pyyaml and requests in (notes/stage2.md §3.2). The shapes above are the ones
detect-secrets' vendor plugins use for the same kinds.

Every pattern is linear (no nested repetition), so a hostile diff cannot make it backtrack.
"""

import re
from collections.abc import Iterator

# kind: (lead, shape). The lead is what every match of the shape starts with (after ``\b``).
TABLE: dict[str, tuple[str, str]] = {
    "github_token": (r"gh[pousr]_", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
    "github_pat": (r"github_pat_", r"\bgithub_pat_[A-Za-z0-9_]{40,255}\b"),
    "private_key": (r"-----BEGIN ", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    "aws_access_key": (r"A[KS]IA", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "jwt": (r"eyJ", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    "slack_token": (r"xox[abposr]-", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
    "slack_webhook": (
        r"https://hooks\.slack\.com/",
        r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
    ),
}

# No groups in the leads' pattern: with them, ``re`` loses its first-character scan and
# runs ten times slower.
_LEADS = re.compile("|".join(lead for lead, _shape in TABLE.values()))
_KINDS = [(kind, re.compile(lead), re.compile(shape)) for kind, (lead, shape) in TABLE.items()]


def find_shapes(text: str) -> Iterator[tuple[str, int, int]]:
    """``(kind, start, end)`` of every credential-shaped string in ``text``, in order.

    Python's ``re`` runs an alternation of the full shapes at ~4 MB/s; one pass for the
    literal leads runs at ~30 MB/s, and a full shape is then tried only where its lead is.
    """
    end = 0
    for lead in _LEADS.finditer(text):
        start = lead.start()
        if start < end:
            continue  # inside the previous match
        for kind, kind_lead, shape in _KINDS:
            if kind_lead.match(text, start) and (found := shape.match(text, start)):
                end = found.end()
                yield kind, start, end
                break


def shapes_in(text: str) -> list[str]:
    """The kinds of credential that appear in ``text``, in order of appearance."""
    return [kind for kind, _start, _end in find_shapes(text)]


def remove_shapes(text: str, replacement: str) -> str:
    """``text`` with every credential-shaped string replaced."""
    pieces = []
    done = 0
    for _kind, start, end in find_shapes(text):
        pieces += [text[done:start], replacement]
        done = end
    return "".join(pieces) + text[done:] if pieces else text
