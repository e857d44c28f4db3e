import pytest

from bot.core.redaction import REDACTED, Redactor, bound, one_line

WEBHOOK_SECRET = "It's a Secret to Everybody"


def test_known_secret_values_are_removed_wherever_they_appear():
    redactor = Redactor([WEBHOOK_SECRET])
    assert redactor.redact(f"echo {WEBHOOK_SECRET}!") == f"echo {REDACTED}!"


@pytest.mark.parametrize("prefix", ["ghp", "gho", "ghu", "ghs", "ghr"])
def test_anything_shaped_like_a_github_token_is_removed(prefix):
    token = f"{prefix}_" + "a1B2" * 9
    assert Redactor().redact(f"Authorization: token {token}") == f"Authorization: token {REDACTED}"


def test_fine_grained_personal_tokens_are_removed():
    assert REDACTED in Redactor().redact("github_pat_11ABCDEFG0123456789_abcdefghijklmnop")


def test_short_look_alikes_of_tokens_are_kept():
    assert Redactor().redact("see ghp_short and ghs_") == "see ghp_short and ghs_"


def test_pem_blocks_are_removed_even_when_unknown(rsa_private_key_pem):
    text = f"before\n{rsa_private_key_pem}after"
    assert Redactor().redact(text) == f"before\n{REDACTED}\nafter"


def test_a_known_private_key_is_removed_with_other_line_endings(rsa_private_key_pem):
    mangled = rsa_private_key_pem.replace("\n", "\r\n").replace("-----BEGIN", "BEGIN")
    cleaned = Redactor([rsa_private_key_pem]).redact(mangled)
    body_line = rsa_private_key_pem.splitlines()[3]
    assert body_line not in cleaned


def test_passwords_in_urls_are_removed_but_the_rest_of_the_url_is_kept():
    text = "connecting to postgresql+psycopg://farcaster:hunter2hunter2@db:5432/farcaster"
    assert Redactor().redact(text) == (
        f"connecting to postgresql+psycopg://farcaster:{REDACTED}@db:5432/farcaster"
    )


def test_secrets_too_short_to_be_real_do_not_shred_the_log():
    assert Redactor(["ab"]).redact("tab tab") == "tab tab"


def test_a_secret_containing_another_is_removed_whole():
    redactor = Redactor(["secret-value", "secret-value-longer"])
    assert redactor.redact("x secret-value-longer y") == f"x {REDACTED} y"


def test_bound_keeps_short_text_unchanged():
    assert bound("hello", 100) == "hello"


def test_bound_keeps_head_and_tail_within_the_limit():
    text = "START " + "x" * 10_000 + " END"
    kept = bound(text, 1000)
    assert len(kept.encode()) <= 1000
    assert kept.startswith("START ")
    assert kept.endswith(" END")
    assert "bytes in all" in kept


def test_bound_never_splits_a_multibyte_character_into_garbage():
    kept = bound("é" * 5000, 500)
    assert len(kept.encode()) <= 500
    kept.encode("utf-8")  # valid text


def test_clean_redacts_before_bounding_so_a_cut_secret_cannot_leak():
    secret = "S" * 40
    text = "a" * 300 + secret + "b" * 300
    cleaned = Redactor([secret]).clean(text, 400)
    assert "SSSS" not in cleaned


def test_one_line_takes_the_first_non_empty_line_and_cuts_it():
    assert one_line("\n\n  first  \nsecond") == "first"
    assert one_line("x" * 50, 10) == "x" * 9 + "…"


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://codeload.github.com/o/r/legacy.tar.gz/sha?token=AAAA1234BBBB", "?token="),
        ("https://x.test/cb?state=ok&code=abcdef123456&x=1", "&x=1"),
        ("https://b.s3.amazonaws.com/k?X-Amz-Security-Token=FQoG&X-Amz-Signature=9f8e", "k?"),
        ("https://a.blob.core.windows.net/c/f?sv=2020&sig=Zm9vYmFy%3D", "sv=2020"),
        ("https://api.test/v1?api_key=live-1234567&page=2", "page=2"),
    ],
)
def test_secret_query_parameters_of_signed_urls_are_removed(url, kept):
    cleaned = Redactor().redact(f"GET {url} 302")
    assert REDACTED in cleaned and kept in cleaned
    for secret in ("AAAA1234BBBB", "abcdef123456", "FQoG", "9f8e", "Zm9vYmFy", "live-1234567"):
        assert secret not in cleaned


def test_ordinary_query_parameters_are_kept():
    text = "GET https://api.github.com/repos/o/r/pulls?state=open&per_page=100 200"
    assert Redactor().redact(text) == text


@pytest.mark.parametrize(
    "credential",
    [
        "AKIAIOSFODNN7EXAMPLE",
        "xoxb-1234567890-abcdefghijkl",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",
        "https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx",
        "Bearer abcdefghijklmnop.qrstuvwx",
    ],
)
def test_every_credential_shape_is_removed_from_logs(credential):
    cleaned = Redactor().redact(f"agent said: {credential} (done)")
    assert credential not in cleaned and cleaned.endswith(" (done)")
