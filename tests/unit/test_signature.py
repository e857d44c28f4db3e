"""The webhook signature check (pure)."""

import hashlib
import hmac

from webhooks.signature import is_valid_signature, sign

SECRET = "It's a Secret to Everybody"
BODY = b"Hello, World!"
GITHUB_VECTOR = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_sign_matches_githubs_documented_test_vector():
    assert sign(SECRET, BODY) == GITHUB_VECTOR


def test_githubs_test_vector_is_accepted():
    assert is_valid_signature(SECRET, BODY, GITHUB_VECTOR)


def test_a_missing_or_empty_header_is_refused():
    assert not is_valid_signature(SECRET, BODY, None)
    assert not is_valid_signature(SECRET, BODY, "")


def test_a_signature_of_another_body_is_refused():
    assert not is_valid_signature(SECRET, b"Hello, World?", GITHUB_VECTOR)
    assert not is_valid_signature(SECRET, BODY[:-1], GITHUB_VECTOR)


def test_a_signature_made_with_another_secret_is_refused():
    assert not is_valid_signature("another secret", BODY, GITHUB_VECTOR)


def test_a_correct_sha1_signature_is_refused():
    sha1 = "sha1=" + hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    assert not is_valid_signature(SECRET, BODY, sha1)


def test_the_digest_without_its_sha256_prefix_is_refused():
    assert not is_valid_signature(SECRET, BODY, GITHUB_VECTOR.removeprefix("sha256="))


def test_uppercase_or_padded_digests_are_refused():
    assert not is_valid_signature(SECRET, BODY, "sha256=" + GITHUB_VECTOR[7:].upper())
    assert not is_valid_signature(SECRET, BODY, GITHUB_VECTOR + " ")


def test_non_ascii_garbage_in_the_header_is_a_mismatch_not_an_error():
    assert not is_valid_signature(SECRET, BODY, "sha256=é" + "0" * 63)
    assert not is_valid_signature(SECRET, BODY, "sha256=\udcff")


def test_the_signature_covers_the_raw_bytes_not_a_reserialisation():
    compact = b'{"a":1}'
    spaced = b'{"a": 1}'
    assert not is_valid_signature(SECRET, spaced, sign(SECRET, compact))
