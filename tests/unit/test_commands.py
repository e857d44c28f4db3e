"""The comment command parser (pure): which line is a command, and what it says."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks.commands import (
    ApplyCommand,
    CancelCommand,
    HelpCommand,
    InvalidCommand,
    PlanCommand,
    RefreshCommand,
    RenameCommand,
    ReplaceCommand,
    RetryCommand,
    RunCommand,
    StatusCommand,
    find_command_line,
    help_text,
    parse_command,
    parse_comment,
)


def parse(body: str, prefix: str = "/farcaster", slug: str = "farcaster"):
    return parse_comment(body, prefix=prefix, app_slug=slug)


def invalid_error(body: str) -> str:
    command = parse(body)
    assert isinstance(command, InvalidCommand), command
    return command.error


# -- the contract ---------------------------------------------------------------------------


def test_rename_serialises_to_the_job_command_contract():
    command = parse("/farcaster rename old_name new_name")
    assert command == RenameCommand(old="old_name", new="new_name")
    assert command.contract() == {
        "name": "rename",
        "old": "old_name",
        "new": "new_name",
        "paths": [],
        "base": None,
    }
    assert command.job_agent() == "rename"


def test_replace_serialises_to_the_job_command_contract():
    command = parse('/farcaster replace "colour" "color" --path "docs/**/*.md" --base main')
    assert isinstance(command, ReplaceCommand)
    assert command.contract() == {
        "name": "replace",
        "pattern": "colour",
        "replacement": "color",
        "regex": False,
        "paths": ["docs/**/*.md"],
        "base": "main",
    }
    assert command.job_agent() == "replace"


def test_run_serialises_to_the_job_command_contract():
    command = parse("/farcaster run claude make the tests pass")
    assert isinstance(command, RunCommand)
    assert command.contract() == {
        "name": "run",
        "agent": "claude",
        "instruction": "make the tests pass",
        "base": None,
    }
    assert command.job_agent() == "claude"


def test_the_contract_round_trips_through_json():
    import json

    command = parse("/farcaster rename a b --path x/*.py --path y/*.py")
    assert json.loads(json.dumps(command.contract()))["paths"] == ["x/*.py", "y/*.py"]


# -- each command ----------------------------------------------------------------------------


def test_rename_takes_several_paths_and_a_base():
    command = parse("/farcaster rename a b --path 'src/**/*.py' --path=tests/*.py --base=dev")
    assert command == RenameCommand(
        old="a", new="b", paths=("src/**/*.py", "tests/*.py"), base="dev"
    )


def test_options_may_come_before_the_names():
    assert parse("/farcaster rename --base dev a b") == RenameCommand(old="a", new="b", base="dev")


def test_rename_of_dotted_names_is_kept_as_typed():
    assert parse("/farcaster rename pkg.mod.Old pkg.mod.New") == RenameCommand(
        old="pkg.mod.Old", new="pkg.mod.New"
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("/farcaster rename onlyone", "two names"),
        ("/farcaster rename a b c", "two names"),
        ("/farcaster rename same same", "same name"),
        ('/farcaster rename "a b" c', "not a name"),
        ("/farcaster rename a b --path", "needs a value"),
        ("/farcaster rename a b --base one --base two", "twice"),
        ("/farcaster rename a b --force", "unknown option --force"),
        ("/farcaster rename a b --regex", "unknown option --regex"),
        ("/farcaster rename a b --path /etc/passwd", "relative"),
        ("/farcaster rename a b --path ../outside/*.py", "relative"),
        ("/farcaster rename a b --base ../main", "branch"),
        ("/farcaster rename a b --base -x", "branch"),
        ("/farcaster rename a b --base main.lock", "branch"),
        ("/farcaster rename a b --base 'two words'", "branch"),
    ],
)
def test_bad_rename_arguments_say_what_is_wrong(body, needle):
    assert needle in invalid_error(body)


def test_replace_with_quoted_spaces_and_regex():
    command = parse("/farcaster replace 'foo  bar' \"baz qux\" --regex")
    assert command == ReplaceCommand(pattern="foo  bar", replacement="baz qux", regex=True)


def test_backslashes_in_patterns_are_kept_as_typed():
    command = parse(r"/farcaster replace \bcolou?r\b color --regex")
    assert isinstance(command, ReplaceCommand)
    assert command.pattern == r"\bcolou?r\b"
    command = parse(r'/farcaster replace "C:\temp" "D:\tmp"')
    assert isinstance(command, ReplaceCommand)
    assert (command.pattern, command.replacement) == (r"C:\temp", r"D:\tmp")


def test_a_hash_is_part_of_an_argument_not_a_comment():
    command = parse("/farcaster replace #old #new")
    assert isinstance(command, ReplaceCommand)
    assert (command.pattern, command.replacement) == ("#old", "#new")


def test_replace_may_delete_text_with_an_empty_replacement():
    command = parse("/farcaster replace 'TODO: ' ''")
    assert command == ReplaceCommand(pattern="TODO: ", replacement="")


def test_double_dash_ends_options_so_patterns_may_start_with_dashes():
    command = parse("/farcaster replace --path '*.md' -- --verbose --quiet")
    assert command == ReplaceCommand(pattern="--verbose", replacement="--quiet", paths=("*.md",))


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("/farcaster replace onlyone", "PATTERN and REPLACEMENT"),
        ("/farcaster replace '' x", "PATTERN is empty"),
        ("/farcaster replace same same", "same text"),
        ("/farcaster replace '(' x --regex", "not a valid regular expression"),
        ("/farcaster replace a b --regex=yes", "takes no value"),
        ('/farcaster replace "unclosed x', "no closing quotation"),
    ],
)
def test_bad_replace_arguments_say_what_is_wrong(body, needle):
    assert needle in invalid_error(body)


def test_run_keeps_the_instruction_as_written():
    command = parse('/farcaster run claude don\'t touch   the "public" API, please')
    assert command == RunCommand(
        agent="claude", instruction='don\'t touch   the "public" API, please'
    )


def test_run_strips_one_pair_of_quotes_around_the_whole_instruction():
    assert parse('/farcaster run claude "fix the typo"') == RunCommand(
        agent="claude", instruction="fix the typo"
    )


def test_run_takes_base_before_or_after_the_agent():
    expected = RunCommand(agent="claude", instruction="fix it", base="release/1.x")
    assert parse("/farcaster run --base release/1.x claude fix it") == expected
    assert parse("/farcaster run claude --base=release/1.x fix it") == expected


def test_run_instruction_may_mention_base_later_on():
    command = parse("/farcaster run claude explain --base flags")
    assert command == RunCommand(agent="claude", instruction="explain --base flags")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("/farcaster run", "AGENT and an INSTRUCTION"),
        ("/farcaster run claude", "needs an INSTRUCTION"),
        ("/farcaster run claude ''", "needs an INSTRUCTION"),
        ("/farcaster run ../bin/sh do it", "not an agent name"),
        ("/farcaster run --base a --base b claude x", "twice"),
    ],
)
def test_bad_run_arguments_say_what_is_wrong(body, needle):
    assert needle in invalid_error(body)


def test_plan_wraps_a_job_command():
    command = parse("/farcaster plan rename a b --base dev")
    assert command == PlanCommand(command=RenameCommand(old="a", new="b", base="dev"))
    command = parse("/farcaster plan run claude tidy up")
    assert command == PlanCommand(command=RunCommand(agent="claude", instruction="tidy up"))


@pytest.mark.parametrize(
    "body", ["/farcaster plan", "/farcaster plan apply abcd", "/farcaster plan plan rename a b"]
)
def test_plan_of_anything_but_a_job_command_is_refused(body):
    assert "plan takes" in invalid_error(body)


def test_plan_passes_on_errors_of_its_inner_command():
    assert "two names" in invalid_error("/farcaster plan rename a")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/farcaster apply 0123abcd", ApplyCommand(job="0123abcd")),
        ("/farcaster retry 0123abcd4567", RetryCommand(job="0123abcd4567")),
        ("/farcaster cancel 0123", CancelCommand(job="0123")),
        ("/farcaster status", StatusCommand()),
        ("/farcaster status 0123abcd", StatusCommand(job="0123abcd")),
        ("/farcaster help", HelpCommand()),
        ("/farcaster", HelpCommand()),
    ],
)
def test_job_and_help_commands(body, expected):
    assert parse(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        "/farcaster apply",
        "/farcaster retry a b",
        "/farcaster cancel abc",  # too short: one character could name a random job
        "/farcaster status ../../etc",
    ],
)
def test_job_ids_are_checked(body):
    assert "job" in invalid_error(body).lower()


def test_an_unknown_command_is_invalid_not_silent():
    command = parse("/farcaster frobnicate now")
    assert command == InvalidCommand(
        line="frobnicate now", error="there is no command 'frobnicate'"
    )


def test_command_words_are_case_insensitive_and_extra_spaces_are_fine():
    assert parse("   /Farcaster   RENAME   a    b   ") == RenameCommand(old="a", new="b")
    assert parse("/farcaster\trename\ta\tb") == RenameCommand(old="a", new="b")


def test_an_overlong_command_line_is_refused_without_parsing_it():
    command = parse("/farcaster run claude " + "x" * 5000)
    assert isinstance(command, InvalidCommand)
    assert "longer than" in command.error
    assert len(command.line) < 300


# -- which line is the command -------------------------------------------------------------


def test_a_comment_without_the_prefix_holds_no_command():
    assert parse("Thanks, looks great!") is None
    assert parse("") is None


def test_the_prefix_must_be_a_whole_word():
    assert parse("/farcasterrename a b") is None
    assert parse("/farcaster-rename a b") is None


def test_the_prefix_must_start_the_line():
    assert parse("Please /farcaster rename a b") is None
    assert parse("- /farcaster rename a b") is None


def test_the_prefix_comes_from_settings():
    assert parse("/fc rename a b", prefix="/fc") == RenameCommand(old="a", new="b")
    assert parse("/farcaster rename a b", prefix="/fc", slug="") is None


def test_a_mention_of_the_app_works_like_the_prefix():
    assert parse("@farcaster rename a b") == RenameCommand(old="a", new="b")
    assert parse("@Farcaster-Dev rename a b", slug="farcaster-dev") == RenameCommand(
        old="a", new="b"
    )
    assert parse("@farcaster[bot] rename a b") == RenameCommand(old="a", new="b")
    assert parse("@farcasterfan rename a b") is None


def test_the_first_command_line_wins():
    body = "Two things:\n/farcaster rename a b\n/farcaster rename c d\n"
    assert parse(body) == RenameCommand(old="a", new="b")


def test_a_command_after_prose_lines_is_found_and_windows_line_ends_are_fine():
    assert parse("Hello!\r\n\r\n/farcaster rename a b\r\nthanks") == RenameCommand(old="a", new="b")


def test_a_command_in_a_fenced_code_block_is_not_a_command():
    body = "Use it like this:\n```\n/farcaster rename a b\n```\n"
    assert parse(body) is None
    body = "~~~~text\n/farcaster rename a b\n~~~\n~~~~\n/farcaster rename c d"
    assert parse(body) == RenameCommand(old="c", new="d")


def test_a_fence_closes_only_with_the_same_kind_and_enough_characters():
    body = "````\n```\n/farcaster rename a b\n~~~~\n````\n/farcaster rename c d"
    assert parse(body) == RenameCommand(old="c", new="d")


def test_an_unclosed_fence_hides_the_rest_of_the_comment():
    assert parse("```python\n/farcaster rename a b") is None


def test_a_command_in_an_inline_code_span_is_not_a_command():
    assert parse("Try `/farcaster rename a b` next time") is None
    assert parse("`/farcaster rename a b`") is None
    assert parse("```/farcaster rename a b```\n/farcaster rename c d") == RenameCommand(
        old="c", new="d"
    )


def test_a_command_inside_an_html_comment_is_not_a_command():
    assert parse("<!-- /farcaster rename a b -->") is None
    assert parse("Notes\n<!--\n/farcaster rename a b\n-->\n") is None
    assert parse("<!-- never closed\n/farcaster rename a b") is None
    body = "<!-- hidden: /farcaster rename a b -->\n/farcaster rename c d"
    assert parse(body) == RenameCommand(old="c", new="d")


def test_a_command_inside_pre_or_code_elements_is_not_a_command():
    assert parse("<pre>\n/farcaster rename a b\n</pre>") is None
    assert parse('<PRE class="x">/farcaster rename a b</PRE>') is None
    assert parse("<code>/farcaster rename a b</code>") is None
    assert parse("<pre><code>\n/farcaster rename a b\n</code></pre>") is None
    assert parse("<pre>x</pre>\n/farcaster rename c d") == RenameCommand(old="c", new="d")


def test_other_html_elements_do_not_hide_a_command():
    assert parse("<details>\n\n/farcaster rename a b\n\n</details>") == RenameCommand(
        old="a", new="b"
    )
    assert parse("<preview>\n/farcaster rename a b") == RenameCommand(old="a", new="b")


def test_a_quoted_command_is_not_a_command():
    assert parse("> /farcaster rename a b") is None
    assert parse(">/farcaster rename a b") is None
    assert parse("> > /farcaster rename a b") is None


def test_a_line_continuing_a_quote_is_part_of_the_quote():
    assert parse("> As you said:\n/farcaster rename a b") is None
    assert parse("> As you said:\n\n/farcaster rename a b") == RenameCommand(old="a", new="b")


def test_a_reply_quoting_an_earlier_command_runs_only_the_new_one():
    body = "> /farcaster rename a b\n\nBetter:\n/farcaster rename a c"
    assert parse(body) == RenameCommand(old="a", new="c")


def test_an_indented_code_line_is_not_a_command():
    assert parse("    /farcaster rename a b") is None
    assert parse("\t/farcaster rename a b") is None
    assert parse("   /farcaster rename a b") == RenameCommand(old="a", new="b")


def test_find_command_line_returns_the_text_after_the_prefix():
    assert (
        find_command_line("x\n/farcaster  status  ", prefix="/farcaster", app_slug="fc") == "status"
    )


def test_a_ten_thousand_line_comment_is_parsed_quickly():
    body = "\n".join(f"line {i} with `code` and > quotes" for i in range(10_000))
    body += "\n/farcaster rename a b"
    started = time.process_time()  # CPU time: other processes cannot slow it
    assert parse(body) == RenameCommand(old="a", new="b")
    assert time.process_time() - started < 1.0


def test_help_text_uses_the_configured_prefix():
    text = help_text("/fc")
    assert "/fc rename OLD NEW" in text
    assert "/farcaster" not in text


# -- never raises --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_text_after_the_prefix_parses_to_a_command_without_raising(text):
    command = parse_command(text.strip())
    assert command.name in {
        "rename",
        "replace",
        "run",
        "plan",
        "apply",
        "retry",
        "cancel",
        "status",
        "help",
        "invalid",
    }


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "/farcaster",
                "```",
                "~~~",
                ">",
                "    ",
                "rename",
                "a",
                "b",
                "\n",
                " ",
                '"',
                "'",
                "--path",
                "--base",
                "`",
            ]
        ),
        max_size=40,
    )
)
def test_any_markdown_like_comment_is_handled_without_raising(parts):
    body = "".join(parts)
    parse(body)


def test_control_characters_make_a_command_invalid_and_are_not_echoed():
    command = parse("/farcaster rename a\x00 b\x1b[31m")
    assert isinstance(command, InvalidCommand)
    assert command.error == "the command holds control characters"
    assert "\x00" not in command.line and "\x1b" not in command.line


def test_refresh_takes_only_force() -> None:
    assert parse("/farcaster refresh") == RefreshCommand(force=False)
    assert parse("/farcaster refresh --force") == RefreshCommand(force=True)
    assert invalid_error("/farcaster refresh main") == "refresh takes nothing but --force"
