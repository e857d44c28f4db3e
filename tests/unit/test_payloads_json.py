"""Reading a payload model straight from the raw body (intake's one parse) accepts only what
``json.loads`` and the dict checks accept, and reads the same values; anything else falls
back to them, which then name the problem (webhooks/payloads.py)."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.payloads import (
    Envelope,
    IssueCommentEvent,
    PayloadError,
    PushEvent,
    read_payload,
    read_payload_json,
    with_envelope,
)

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "webhooks"
MODELS = [Envelope, IssueCommentEvent, PushEvent]


def the_slow_way(model, body: bytes):
    """What intake decided before the one-parse path: a model, or None when refused."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    try:
        return read_payload(model, payload)
    except PayloadError:
        return None


def agrees(model, body: bytes) -> None:
    fast = read_payload_json(model, body)
    if fast is not None:  # accepted straight from the bytes: the slow way reads the same
        assert the_slow_way(model, body) == fast
    both = with_envelope(model)
    assert both is not None
    together = read_payload_json(both, body)
    if together is not None:  # one parse for both: each of them accepts it alone
        assert the_slow_way(Envelope, body) is not None
        assert the_slow_way(model, body) is not None
        assert together.model_dump(include=set(type(fast).model_fields)) == fast.model_dump()


def test_a_model_that_reads_an_envelope_field_otherwise_gets_no_one_parse_twin():
    from webhooks.payloads import _Lenient

    class Odd(_Lenient):
        action: int

    assert with_envelope(Odd) is None


COMMENT = json.loads((SAMPLES / "issue_comment.created.with-installation.json").read_text())

HOSTILE = [
    b'{"action": "x"} trailing',
    b'{"action": "x", "junk": "\xff\xfe"}',
    b'{"action": "x", "junk": "a\nb"}',
    b'{"action": "x", "junk": "\\ud800"}',
    b'{"action": "\\ud800"}',
    b'{"action": "a\\u0000b"}',
    b'{"action": "a\\u007fb"}',
    b'{"action": "a\x7fb"}',
    b'{"action": "a\\fb"}',
    b'{"action": "x", "junk": NaN, "more": Infinity}',
    b'{"action": "x", "action": 5}',
    b'{"action": 5, "action": "x"}',
    b'\xef\xbb\xbf{"action": "x"}',
    b'{"installation": {"id": 1.0}}',
    b'{"installation": {"id": true}}',
    b'{"installation": {"id": "1"}}',
    b'{"installation": {"id": 123456789012345678901234567890}}',
    b'{"repository": {"full_name": "a/b/c"}}',
    b'{"junk": ' + b"[" * 300 + b"]" * 300 + b"}",
    '{"action": "x"}'.encode("utf-16"),
    b"[]",
    b'"text"',
    b"",
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("body", HOSTILE)
def test_a_hostile_body_is_refused_or_read_as_the_slow_way_reads_it(model, body):
    agrees(model, body)


def test_a_real_delivery_is_read_alike_both_ways():
    body = json.dumps(COMMENT).encode()
    assert read_payload_json(IssueCommentEvent, body) == read_payload(IssueCommentEvent, COMMENT)
    assert read_payload_json(Envelope, body) == read_payload(Envelope, COMMENT)


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ["\x00", "a\x1fb", "\x7f", "\t\n\r", "é", "a/b", "owner/repo", "x" * 70_000]
)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    login=values,
    body=values,
    comment_id=values,
    full_name=values,
    action=values,
    installation=values,
    ensure_ascii=st.booleans(),
)
def test_mutated_comment_payloads_agree(
    login, body, comment_id, full_name, action, installation, ensure_ascii
):
    payload = json.loads(json.dumps(COMMENT))
    payload["comment"]["user"]["login"] = login
    payload["comment"]["body"] = body
    payload["comment"]["id"] = comment_id
    payload["repository"]["full_name"] = full_name
    payload["action"] = action
    payload["installation"] = installation
    raw = json.dumps(payload, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")
    for model in MODELS:
        agrees(model, raw)
