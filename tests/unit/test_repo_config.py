"""`.github/farcaster.yml`: valid files parse, mistakes name a line, hostile ones are refused."""

import re
import time

import pytest

from bot.core.errors import InvalidRepoConfig, Refusal
from bot.core.repo_config import (
    MAX_CONFIG_BYTES,
    RepoConfig,
    cap_repo_config,
    parse_repo_config,
    render_title,
)

FULL = """\
# Farcaster settings for this repository
agents: [rename, codex]
paths:
  allowed: ["src/**", "tests/**"]
  protected: ["src/vendor/**"]
pull_request:
  draft: true
  labels: [refactor, bot]
  reviewers: [octocat, octo-org/reviewers]
  title: "refactor: {command} {old} -> {new} ({job})"
permission:
  minimum: maintain
"""


def refusal(text: str) -> str:
    with pytest.raises(InvalidRepoConfig) as caught:
        parse_repo_config(text)
    assert caught.value.reason_code == "invalid_repo_config"
    assert isinstance(caught.value, Refusal) and not caught.value.retryable
    return caught.value.message


# -- valid files -------------------------------------------------------------------------


def test_a_full_file_gives_every_setting() -> None:
    config = parse_repo_config(FULL)
    assert config.agents == ["rename", "codex"]
    assert config.paths.allowed == ["src/**", "tests/**"]
    assert config.paths.protected == ["src/vendor/**"]
    assert config.pull_request.draft is True
    assert config.pull_request.labels == ["refactor", "bot"]
    assert config.pull_request.reviewers == ["octocat", "octo-org/reviewers"]
    assert config.permission.minimum == "maintain"


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n", "~\n"])
def test_an_empty_file_means_the_defaults(text: str) -> None:
    config = parse_repo_config(text)
    assert config == RepoConfig()
    assert config.agents is None and config.permission.minimum == "write"
    assert config.pull_request.draft is False and config.pull_request.title is None


def test_a_partial_section_keeps_the_other_defaults() -> None:
    config = parse_repo_config("pull_request:\n  labels: [refactor]\n")
    assert config.pull_request.labels == ["refactor"] and config.pull_request.draft is False
    assert config.paths.allowed == []


def test_the_title_template_renders_the_command_fields() -> None:
    config = parse_repo_config(FULL)
    assert config.pull_request.title is not None
    command = {"name": "rename", "old": "old_name", "new": "new_name", "paths": []}
    assert (
        render_title(config.pull_request.title, command, "0123456789ab")
        == "refactor: rename old_name -> new_name (0123456789ab)"
    )
    replace = {"name": "replace", "pattern": "foo", "replacement": "bar", "regex": False}
    assert render_title("{command}: {old} -> {new}", replace, "j") == "replace: foo -> bar"


def test_a_rendered_title_is_one_line_and_bounded() -> None:
    command = {"name": "rename", "old": "a\nb", "new": "x" * 500}
    title = render_title("{old} {new}", command, "j")
    assert "\n" not in title and len(title) == 256 and title.endswith("…")


# -- mistakes name their line and setting ------------------------------------------------


def test_a_misspelt_setting_is_refused_with_its_line_and_the_known_names() -> None:
    message = refusal("pull_request:\n  draft: true\n  lables: [x]\n")
    assert message.startswith(".github/farcaster.yml line 3: pull_request.lables")
    assert "draft, labels, reviewers, title" in message


def test_an_unknown_top_level_setting_is_refused() -> None:
    assert "line 2: agent is not a setting" in refusal("paths: {}\nagent: rename\n")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pull_request:\n  draft: 'yes'\n", "line 2: pull_request.draft: should be true or false"),
        ("pull_request:\n  draft: 1\n", "line 2: pull_request.draft: should be true or false"),
        ("paths:\n  allowed: src/**\n", "line 2: paths.allowed: should be a list"),
        ("paths: [src]\n", "line 1: paths: should be a mapping of settings"),
        ("pull_request:\n  labels:\n    - ok\n    - 3\n", "line 4: pull_request.labels[1]: should"),
        ("agents: rename\n", "line 1: agents: should be a list"),
        ("permission:\n  minimum: read\n", "line 2: permission.minimum: Input should be 'write'"),
    ],
)
def test_a_wrong_type_is_refused_with_its_line_and_field(text: str, expected: str) -> None:
    assert expected in refusal(text)


def test_several_mistakes_are_all_reported() -> None:
    message = refusal("pull_request:\n  draft: maybe\npermission:\n  minimum: triage\n")
    assert "line 2: pull_request.draft" in message and "line 4: permission.minimum" in message


@pytest.mark.parametrize(
    ("title", "why"),
    [
        ("{job.__class__}", "not {job.__class__}"),
        ("{old:>999999999}", "not {old:>999999999}"),
        ("{new!r}", "not {new!r}"),
        ("{0}", "not {0}"),
        ("{branch}", "not {branch}"),
        ("fix {", "malformed"),
        ("x" * 300, "longer than 256"),
    ],
)
def test_a_title_template_may_only_use_the_four_plain_placeholders(title: str, why: str) -> None:
    message = refusal(f"pull_request:\n  title: '{title}'\n")
    assert "line 2: pull_request.title" in message and why in message


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("paths:\n  allowed: ['/etc/**']\n", "absolute"),
        ("paths:\n  protected: ['']\n", "empty"),
        ("pull_request:\n  reviewers: ['not a login']\n", "not a GitHub login"),
        ("pull_request:\n  labels: ['" + "l" * 51 + "']\n", "not a label name"),
        ("agents: ['../../bin/sh']\n", "not an agent name"),
    ],
)
def test_values_that_cannot_be_meant_are_refused(text: str, why: str) -> None:
    assert why in refusal(text)


def test_a_setting_given_twice_is_refused_instead_of_keeping_the_last() -> None:
    message = refusal("agents: [rename]\npaths: {}\nagents: [codex]\n")
    assert "line 3: agents is set twice" in message


# -- hostile files -----------------------------------------------------------------------


def test_an_alias_bomb_is_refused_quickly() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(20)
    )
    started = time.process_time()  # CPU time: other processes cannot slow it
    assert "anchor &a; anchors are not allowed" in refusal(bomb)
    assert time.process_time() - started < 1.0


def test_an_alias_is_refused_even_without_its_anchor() -> None:
    assert "line 1: uses the alias *nowhere; aliases are not allowed" in refusal(
        "agents: *nowhere\n"
    )


def test_a_huge_file_is_refused_before_parsing() -> None:
    huge = "agents: [rename]\n" + "# padding\n" * (MAX_CONFIG_BYTES // 10)
    message = refusal(huge)
    assert f"the limit is {MAX_CONFIG_BYTES}" in message


def test_deep_nesting_is_refused_without_recursing() -> None:
    started = time.process_time()  # CPU time: other processes cannot slow it
    assert "nests deeper than" in refusal("[" * 20_000 + "]" * 20_000)
    assert "nests deeper than" in refusal("a:\n" + "".join("  " * i + "b:\n" for i in range(1, 30)))
    assert time.process_time() - started < 1.0


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("- rename\n- replace\n", "must be a mapping of settings, not a list"),
        ("just a string\n", "must be a mapping of settings, not a single value"),
        ("42\n", "must be a mapping of settings, not a single value"),
        ("agents: [a]\n---\nagents: [b]\n", "line 2: holds more than one YAML document"),
        ("agents: [rename\n", "is not valid YAML"),
        ("x: !!python/object/apply:os.system ['id']\n", "is not valid YAML"),
        ("agents: !custom [a]\n", "is not valid YAML"),
        ("1: a\n", "has a key that is not text"),
        ("? [a, b]\n: c\n", "has a key that is not text"),
        ("pull_request:\n  true: x\n", "pull_request has a key that is not text"),
        ("\t- tab\n", "is not valid YAML"),
    ],
)
def test_hostile_or_broken_files_are_refused_cleanly(text: str, why: str) -> None:
    assert why in refusal(text)


def test_binary_junk_is_refused_cleanly() -> None:
    assert "not valid YAML" in refusal("\x00\x01\x02garbage: [")


# -- the server's cap --------------------------------------------------------------------


def test_the_cap_makes_every_operator_agent_explicit_when_the_repo_names_none() -> None:
    capped = cap_repo_config(RepoConfig(), {"rename", "replace", "codex"})
    assert capped.agents == ["codex", "rename", "replace"]


def test_the_cap_keeps_a_repository_narrowing_the_agents() -> None:
    config = parse_repo_config("agents: [rename]\n")
    assert cap_repo_config(config, {"rename", "replace"}).agents == ["rename"]


def test_a_repository_cannot_enable_an_agent_the_operator_did_not_define() -> None:
    config = parse_repo_config("agents: [rename, shell]\n")
    with pytest.raises(InvalidRepoConfig) as caught:
        cap_repo_config(config, {"rename", "replace"})
    assert "'shell'" in caught.value.message
    assert "does not define (it defines: rename, replace)" in caught.value.message


def test_a_repository_cannot_lower_the_permission_below_write() -> None:
    assert "permission.minimum" in refusal("permission:\n  minimum: triage\n")
    config = parse_repo_config("permission:\n  minimum: admin\n")
    assert cap_repo_config(config, {"rename"}).permission.minimum == "admin"


VERIFY = """\
verify:
  setup: ["python", "-m", "pip", "install", "-e", ".[test]"]
  run: ["python", "-m", "pytest", "-q"]
  timeout: 120
  must_pass: false
  compare_with_base: false
"""


def test_the_verify_section_gives_the_test_command_and_its_policy() -> None:
    verify = parse_repo_config(VERIFY).verify
    assert verify is not None
    assert verify.run == ["python", "-m", "pytest", "-q"]
    assert verify.setup == ["python", "-m", "pip", "install", "-e", ".[test]"]
    assert (verify.timeout, verify.must_pass, verify.compare_with_base) == (120.0, False, False)


def test_verify_defaults_to_must_pass_and_comparing_with_the_base() -> None:
    assert parse_repo_config("").verify is None
    verify = parse_repo_config("verify:\n  run: [pytest]\n").verify
    assert verify is not None
    assert (verify.setup, verify.timeout, verify.must_pass, verify.compare_with_base) == (
        None,
        900.0,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("verify:\n  run: pytest -q\n", "line 2: verify.run: should be a list"),
        ("verify:\n  run: []\n", "verify.run"),
        ("verify:\n  setup: [pip]\n", "verify.run: Field required"),
        ("verify:\n  run: [pytest]\n  timeout: 86400\n", "verify.timeout"),
        ("verify:\n  run: ['']\n", "the program to run is empty"),
        ("verify:\n  run: [pytest]\n  shell: true\n", "known here: run, setup, timeout"),
    ],
)
def test_a_verify_section_that_cannot_run_is_refused_with_its_line(text: str, why: str) -> None:
    with pytest.raises(InvalidRepoConfig, match=re.escape(why)):
        parse_repo_config(text)


def test_refresh_defaults_to_on_conflict_and_takes_only_its_three_values() -> None:
    assert parse_repo_config("").refresh == "on-conflict"
    assert parse_repo_config("refresh: behind\n").refresh == "behind"
    assert parse_repo_config("refresh: never\n").refresh == "never"
    with pytest.raises(InvalidRepoConfig, match="refresh"):
        parse_repo_config("refresh: sometimes\n")
