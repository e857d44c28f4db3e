"""The secret scanner: what a proposal may not add, and refusals that never repeat the value."""

import pytest

from bot.core.credentials import TABLE, shapes_in
from bot.core.errors import AgentFailed
from bot.core.secret_scan import Finding, SecretScanner, refuse_secrets
from bot.worker.checkout import commit_base, diff_against_base

# One real-looking example per credential kind (made up; none of them works anywhere).
EXAMPLES = {
    "github_token": "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5",
    "github_pat": "github_pat_11ABCDEFG0" + "a1b2c3d4e5" * 7,
    "private_key": "-----BEGIN OPENSSH PRIVATE KEY-----",
    "aws_access_key": "AKIAIOSFODNN7EXAMPLE",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0."
    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "slack_token": "xoxb-1234567890-abcdefghijkl",
    "slack_webhook": "https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx",
}
# Ordinary code that merely resembles the shapes.
LOOK_ALIKES = [
    "ghp_short = 1",
    "ghs_token_cache_for_installation_ids = {}",
    'print("hello world")',
    "AKIA_PREFIX = 'AKIA'",
    "header = 'eyJ'  # base64 of '{\"'",
    "-----BEGIN PUBLIC KEY-----",
    "xoxb-short",
]
WEBHOOK = "webhook-secret-of-this-server"


def test_every_kind_of_the_table_has_an_example():
    assert sorted(EXAMPLES) == sorted(TABLE)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_each_credential_shape_is_recognised_inside_a_line_of_code(kind):
    assert shapes_in(f'TOKEN = "{EXAMPLES[kind]}"  # keep') == [kind]


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_code_that_only_resembles_a_credential_is_not_a_finding(text):
    assert shapes_in(text) == []
    assert SecretScanner().scan_text(text) == []


def snapshot_of(tmp_path, files):
    work = tmp_path / "s" / "work"
    for path, content in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_bytes(content)
    work.mkdir(parents=True, exist_ok=True)
    return commit_base(tmp_path / "s", "f" * 40)


def agent_diff(tmp_path, base, changed):
    snap = snapshot_of(tmp_path, base)
    for path, content in changed.items():
        (snap.work / path).parent.mkdir(parents=True, exist_ok=True)
        (snap.work / path).write_bytes(content)
    return diff_against_base(snap).decode()


def refusal(diff, known=None):
    with pytest.raises(AgentFailed) as caught:
        refuse_secrets(diff, known)
    assert caught.value.reason_code == "secret_in_diff"
    assert not caught.value.retryable
    return caught.value.message


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_a_diff_adding_a_credential_is_refused_naming_file_and_line_never_the_value(tmp_path, kind):
    value = EXAMPLES[kind]
    diff = agent_diff(
        tmp_path,
        {"app.py": b"a = 1\nb = 2\nc = 3\n"},
        {"app.py": f"a = 1\nb = 2\nkey = '{value}'\nc = 3\n".encode()},
    )
    message = refusal(diff)
    assert "`app.py` line 3" in message
    assert value not in message


def test_the_line_number_is_the_new_files_in_a_later_hunk(tmp_path):
    base = "".join(f"line {n}\n" for n in range(1, 40)).encode()
    changed = base.replace(b"line 2\n", b"").replace(b"line 30\n", b"line 30\nghp_x\n")
    changed = changed.replace(b"ghp_x", EXAMPLES["github_token"].encode())
    findings = SecretScanner().scan_diff(agent_diff(tmp_path, {"f.txt": base}, {"f.txt": changed}))
    assert findings == [Finding("f.txt", 30, "github_token")]


def test_a_credential_that_is_only_removed_or_kept_as_context_is_not_refused(tmp_path):
    token = EXAMPLES["aws_access_key"]
    diff = agent_diff(
        tmp_path,
        {"keep.py": f"k = '{token}'\nx = 1\n".encode(), "gone.py": f"k = '{token}'\n".encode()},
        {"keep.py": f"k = '{token}'\nx = 2\n".encode(), "gone.py": b"k = None\n"},
    )
    assert SecretScanner().scan_diff(diff) == []


def test_an_added_line_that_looks_like_a_diff_header_is_still_scanned(tmp_path):
    token = EXAMPLES["github_token"]
    diff = agent_diff(tmp_path, {"notes.md": b"x\n"}, {"notes.md": f"x\n++ b/{token}\n".encode()})
    assert SecretScanner().scan_diff(diff) == [Finding("notes.md", 2, "github_token")]


def test_the_server_webhook_secret_is_refused_and_named_as_such(tmp_path):
    diff = agent_diff(tmp_path, {}, {"leak.txt": f"found: {WEBHOOK}\n".encode()})
    message = refusal(diff, {"webhook_secret": [WEBHOOK]})
    assert "`leak.txt` line 1 (this server's webhook secret)" in message
    assert WEBHOOK not in message


def test_one_line_of_the_app_private_key_is_enough(tmp_path, rsa_private_key_pem):
    body_line = rsa_private_key_pem.splitlines()[5]
    diff = agent_diff(tmp_path, {}, {"k.txt": f"x{body_line}y\n".encode()})
    message = refusal(diff, {"app_private_key": [rsa_private_key_pem]})
    assert "`k.txt` line 1 (a line of this server's GitHub App private key)" in message
    assert body_line not in message


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("database", "postgresql+psycopg://farcaster@db.internal:5432/prod"),
        ("database", "hunter2-but-longer"),
        ("agent_variable", "sk-ant-not-shaped-like-anything"),
    ],
)
def test_database_url_password_and_agent_variables_are_refused(tmp_path, kind, value):
    diff = agent_diff(tmp_path, {"a.py": b"x = 1\n"}, {"a.py": f"x = '{value}'\n".encode()})
    message = refusal(diff, {kind: [value], "webhook_secret": [WEBHOOK]})
    assert value not in message and "`a.py` line 1" in message


def test_a_secret_in_a_binary_file_is_found(tmp_path):
    data = b"\0\1\2binary" + WEBHOOK.encode() + b"\0" * 100
    diff = agent_diff(tmp_path, {"blob.bin": b"\0\1\2old"}, {"blob.bin": data, "new.bin": data})
    assert "GIT binary patch" in diff
    findings = SecretScanner({"webhook_secret": [WEBHOOK]}).scan_diff(diff)
    assert findings == [
        Finding("blob.bin", None, "webhook_secret"),
        Finding("new.bin", None, "webhook_secret"),
    ]


def test_a_file_named_after_a_secret_is_refused_without_naming_it(tmp_path):
    token = EXAMPLES["github_token"]
    diff = agent_diff(tmp_path, {}, {f"dir/{token}.txt": b"harmless\n", f"{token}": b"ghp\n"})
    message = refusal(diff)
    assert token not in message
    assert "a file whose name holds a secret (a GitHub token)" in message


def test_a_short_or_empty_server_secret_never_refuses_everything(tmp_path):
    diff = agent_diff(tmp_path, {}, {"a.txt": b"a b c\n"})
    refuse_secrets(diff, {"webhook_secret": ["a", ""]})


def test_many_findings_are_counted_not_all_listed(tmp_path):
    lines = "".join(f"t{n} = '{EXAMPLES['aws_access_key']}'\n" for n in range(8))
    message = refusal(agent_diff(tmp_path, {}, {"many.py": lines.encode()}))
    assert "`many.py` line 5" in message and "`many.py` line 6" not in message
    assert "and 3 more" in message


def test_a_clean_diff_passes(tmp_path):
    diff = agent_diff(tmp_path, {"a.py": b"x = 1\n"}, {"a.py": b"x = 2\n"})
    refuse_secrets(diff, {"webhook_secret": [WEBHOOK]})


def test_a_secret_inside_a_file_named_after_one_names_neither(tmp_path):
    token = EXAMPLES["github_token"]
    diff = agent_diff(tmp_path, {}, {token: f"{WEBHOOK}\n".encode()})
    message = refusal(diff, {"webhook_secret": [WEBHOOK]})
    assert token not in message and WEBHOOK not in message
    assert "line 1 of a file whose name holds a secret (this server's webhook secret)" in message
