"""A repository's own settings: ``.github/farcaster.yml``, read at the job's base commit.

The rules:

- The file is data from whoever can push to the repository, so it is parsed defensively:
  at most :data:`MAX_CONFIG_BYTES`, one YAML document whose root is a mapping, no anchors or
  aliases (no "billion laughs"), no nesting deeper than :data:`MAX_DEPTH`, no custom tags,
  no duplicate keys, and only the settings below with their exact types (a typo is an
  error, never silently ignored).
- Every refusal is an :class:`~bot.core.errors.InvalidRepoConfig` whose message names the line
  and the setting, so the maintainer can fix the file from the comment alone.
- The server caps what a repository may ask (:func:`cap_repo_config`): a repository can
  narrow what Farcaster does there, never widen it. It cannot enable an agent the operator
  did not define, and it cannot lower the permission needed below ``write``.

An absent or empty file means the defaults. Example::

    agents: [rename, replace]          # omit to allow every agent the server defines
    paths:
      allowed: ["src/**", "tests/**"]  # a proposal may only touch these
      protected: ["src/vendor/**"]     # ... and never these
    pull_request:
      draft: true
      labels: [refactor]
      reviewers: [octocat, octo-org/reviewers]
      title: "refactor: {command} {old} -> {new} ({job})"
    permission:
      minimum: maintain                # write | maintain | admin
    verify:                            # the repository's own tests decide (bot/core/verdict.py)
      setup: ["python", "-m", "pip", "install", "-e", ".[test]"]  # optional, runs first
      run: ["python", "-m", "pytest", "-q", "--junitxml=$FARCASTER_JUNIT_XML"]
      timeout: 900                     # seconds for setup and run together, per tree
      must_pass: true                  # false: open the PR as a draft and say why
      compare_with_base: true          # failures the base has too do not count
    refresh: on-conflict               # never | on-conflict | behind: after a base push

Commands are argv lists, never a shell; ``$FARCASTER_JUNIT_XML`` in an argument is replaced
by the path the runner reads JUnit XML from (also exported under that name).
"""

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from bot.core.errors import InvalidRepoConfig

__all__ = [
    "CONFIG_PATH",
    "InvalidRepoConfig",
    "RepoConfig",
    "VerifyConfig",
    "cap_repo_config",
    "parse_repo_config",
    "render_title",
]

CONFIG_PATH = ".github/farcaster.yml"
MAX_CONFIG_BYTES = 64 * 1024
MAX_DEPTH = 8
MAX_LIST_ITEMS = 100
MAX_TITLE_CHARS = 256  # GitHub's limit on a pull request title
MAX_VERIFY_SECONDS = 3600.0  # the server may allow less (FARCASTER_VERIFY_TIMEOUT_SECONDS)
TITLE_FIELDS = frozenset({"command", "old", "new", "job"})

_AGENT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# A GitHub login, or org/team-slug for a team reviewer.
_REVIEWER = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9_.-]{1,100})?$"
_STR_TAG = "tag:yaml.org,2002:str"


def _check_globs(globs: list[str]) -> list[str]:
    for glob in globs:
        if not glob.strip():
            raise ValueError("a path glob is empty")
        if glob.startswith("/") or re.match(r"^[A-Za-z]:[\\/]", glob):
            raise ValueError(f"{glob!r} is absolute; globs are relative to the repository root")
        if "\0" in glob:
            raise ValueError("a path glob contains a NUL character")
    return globs


class _Section(BaseModel):
    # strict: "yes" stays a string and 1 is not a label; frozen: configs are values.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class PathsConfig(_Section):
    allowed: list[str] = Field(
        default_factory=list,
        max_length=MAX_LIST_ITEMS,
        description="Globs a proposal may touch; empty means the whole repository.",
    )
    protected: list[str] = Field(
        default_factory=list,
        max_length=MAX_LIST_ITEMS,
        description="Globs a proposal must never touch, whatever `allowed` says.",
    )

    _globs = field_validator("allowed", "protected")(_check_globs)


class PullRequestConfig(_Section):
    draft: bool = Field(default=False, description="Open the pull request as a draft.")
    labels: list[str] = Field(
        default_factory=list, max_length=MAX_LIST_ITEMS, description="Labels to add."
    )
    reviewers: list[str] = Field(
        default_factory=list,
        max_length=MAX_LIST_ITEMS,
        description="Logins (or org/team) to request reviews from.",
    )
    title: str | None = Field(
        default=None,
        description="Title template with {command}, {old}, {new}, {job}; None: the default.",
    )

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: list[str]) -> list[str]:
        for label in labels:
            if not label.strip() or len(label) > 50:
                raise ValueError(f"{label!r} is not a label name (1 to 50 characters)")
        return labels

    @field_validator("reviewers")
    @classmethod
    def _reviewers(cls, reviewers: list[str]) -> list[str]:
        for reviewer in reviewers:
            if not re.match(_REVIEWER, reviewer):
                raise ValueError(f"{reviewer!r} is not a GitHub login or org/team")
        return reviewers

    @field_validator("title")
    @classmethod
    def _title(cls, title: str | None) -> str | None:
        if title is not None:
            check_title_template(title)
        return title


class PermissionConfig(_Section):
    minimum: Literal["write", "maintain", "admin"] = Field(
        default="write", description="The least repository permission that may start a job."
    )


def _check_argv(argv: list[str] | None) -> list[str] | None:
    for part in argv or []:
        if "\0" in part:
            raise ValueError("a command argument contains a NUL character")
    if argv is not None and not argv[0].strip():
        raise ValueError("the program to run is empty")
    return argv


class VerifyConfig(_Section):
    run: list[str] = Field(
        min_length=1, max_length=MAX_LIST_ITEMS, description="The test command, as an argv list."
    )
    setup: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LIST_ITEMS,
        description="A command run before `run` (installing the package), as an argv list.",
    )
    timeout: float = Field(
        default=900.0, gt=0, le=MAX_VERIFY_SECONDS, description="Seconds for setup and run."
    )
    must_pass: bool = Field(
        default=True, description="Failing tests stop the job; false opens a draft PR instead."
    )
    compare_with_base: bool = Field(
        default=True, description="Run the tests on the base too; only new failures count."
    )

    _argv = field_validator("run", "setup")(_check_argv)


class RepoConfig(_Section):
    agents: list[str] | None = Field(
        default=None,
        max_length=MAX_LIST_ITEMS,
        description="Agents enabled in this repository; None: every agent the server defines.",
    )
    paths: PathsConfig = Field(default_factory=PathsConfig)
    pull_request: PullRequestConfig = Field(default_factory=PullRequestConfig)
    permission: PermissionConfig = Field(default_factory=PermissionConfig)
    verify: VerifyConfig | None = Field(
        default=None, description="The repository's tests, run on every proposal."
    )
    refresh: Literal["never", "on-conflict", "behind"] = Field(
        default="on-conflict",
        description="When a push to the base branch refreshes open proposals: never, when "
        "the push changed a file the proposal touches, or whenever it is behind.",
    )

    @field_validator("agents")
    @classmethod
    def _agents(cls, agents: list[str] | None) -> list[str] | None:
        for agent in agents or []:
            if not re.match(_AGENT_NAME, agent):
                raise ValueError(f"{agent!r} is not an agent name")
        return agents


def check_title_template(template: str) -> None:
    """Allow only the four placeholders, bare: ``{job.__class__}`` or ``{old:>9999999}``
    would let a repository read attributes or make a huge string."""
    if len(template) > MAX_TITLE_CHARS:
        raise ValueError(f"the title template is longer than {MAX_TITLE_CHARS} characters")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"the title template is malformed ({exc}); write {{{{ for a brace"
        ) from None
    for _text, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in TITLE_FIELDS or spec or conversion:
            known = ", ".join("{" + f + "}" for f in sorted(TITLE_FIELDS))
            used = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            raise ValueError(f"the title template may only use {known}, not {{{used}}}")


def render_title(template: str, command: Mapping[str, Any], job_id: str) -> str:
    """The pull request title for a job command (the JSON contract in DESIGN.md).

    ``{old}``/``{new}`` are the rename's names or the replacement's pattern and replacement;
    empty for other commands. The result is one line, at most :data:`MAX_TITLE_CHARS`.
    """
    check_title_template(template)
    values = {
        "command": str(command.get("name", "")),
        "old": str(command.get("old", command.get("pattern", ""))),
        "new": str(command.get("new", command.get("replacement", ""))),
        "job": job_id,
    }
    title = " ".join(template.format(**values).split())
    return title if len(title) <= MAX_TITLE_CHARS else title[: MAX_TITLE_CHARS - 1] + "…"


# -- parsing -----------------------------------------------------------------------------


def _refuse(line: int | None, what: str) -> InvalidRepoConfig:
    where = f"{CONFIG_PATH} line {line}" if line else CONFIG_PATH
    return InvalidRepoConfig(f"{where}: {what}")


def _line(mark: Any) -> int | None:
    return int(mark.line) + 1 if mark is not None else None


def _scan_events(text: str) -> None:
    """Refuse anchors, aliases, deep nesting and extra documents before composing anything.

    The parser is iterative, so this is safe on any input; the composer that follows
    recurses, so the depth limit must be enforced here first.
    """
    depth = 0
    documents = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = _line(event.start_mark)
            if isinstance(event, yaml.AliasEvent):
                raise _refuse(line, f"uses the alias *{event.anchor}; aliases are not allowed")
            if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
                raise _refuse(line, f"defines the anchor &{event.anchor}; anchors are not allowed")
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _refuse(line, f"nests deeper than {MAX_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _refuse(line, "holds more than one YAML document")
    except yaml.MarkedYAMLError as exc:
        raise _refuse(_line(exc.problem_mark), f"is not valid YAML ({exc.problem})") from None
    except yaml.YAMLError as exc:
        raise _refuse(None, f"is not valid YAML ({exc})") from None


def _check_keys(node: yaml.Node, path: str = "") -> None:
    """Keys are plain text and appear once per mapping (YAML would keep the last silently)."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag != _STR_TAG:
                raise _refuse(
                    _line(key.start_mark), f"{path or 'the file'} has a key that is not text"
                )
            name = f"{path}.{key.value}" if path else str(key.value)
            if key.value in seen:
                raise _refuse(_line(key.start_mark), f"{name} is set twice")
            seen.add(key.value)
            _check_keys(value, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_keys(item, f"{path}[{index}]")


def _load(text: str) -> RepoConfig | None:
    """Compose, check the shape and the keys, and only then build Python values."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if not isinstance(node, yaml.MappingNode):
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
                return None
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a single value"
            raise _refuse(_line(node.start_mark), f"must be a mapping of settings, not {kind}")
        _check_keys(node)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise _refuse(_line(mark), f"is not valid YAML ({exc.problem or exc.context})") from None
    except yaml.YAMLError as exc:
        raise _refuse(None, f"is not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    try:
        return RepoConfig.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, node) for error in exc.errors()[:5]]
        raise InvalidRepoConfig("; ".join(problems)) from None


def parse_repo_config(text: str) -> RepoConfig:
    """Parse ``.github/farcaster.yml``; refuse anything but the documented settings."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_CONFIG_BYTES:
        raise _refuse(None, f"is {size} bytes; the limit is {MAX_CONFIG_BYTES}")
    _scan_events(text)
    return _load(text) or RepoConfig()


# Pydantic's wording names Python types; a maintainer reads YAML.
_PLAIN_MESSAGES = {
    "bool_type": "should be true or false",
    "string_type": "should be text",
    "list_type": "should be a list",
    "dict_type": "should be a mapping of settings",
    "model_type": "should be a mapping of settings",
}


def _describe(error: ErrorDetails, root: yaml.Node) -> str:
    loc = tuple(error["loc"])
    name = _dotted(loc)
    if error["type"] == "extra_forbidden":
        known = ", ".join(_known_keys(loc[:-1]))
        what = f"{name} is not a setting (known here: {known})"
    else:
        message = _PLAIN_MESSAGES.get(error["type"]) or str(error["msg"])
        what = f"{name}: {message.removeprefix('Value error, ')}"
    return str(_refuse(_locate(root, loc), what))


def _dotted(loc: Sequence[int | str]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "the file"


def _known_keys(loc: Sequence[int | str]) -> list[str]:
    model: Any = RepoConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        # A section that may be absent is annotated `Section | None`.
        options = get_args(field.annotation) or (field.annotation,) if field else ()
        sections = [o for o in options if isinstance(o, type) and issubclass(o, BaseModel)]
        if not sections:
            return []
        model = sections[0]
    return list(model.model_fields)


def _locate(node: yaml.Node, loc: Sequence[int | str]) -> int | None:
    """The line of the key (or list item) a validation error points at; its parent's if the
    key is missing."""
    line = _line(node.start_mark)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == part), None)
            if match is None:
                return line
            line, node = _line(match[0].start_mark), match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = _line(node.start_mark)
        else:
            return line
    return line


# -- the server's cap --------------------------------------------------------------------


def cap_repo_config(config: RepoConfig, operator_agents: set[str]) -> RepoConfig:
    """The repository's config within what the server allows, with ``agents`` made explicit.

    ``operator_agents`` is every agent this server can run (the built-ins and the command
    agents of AGENTS_FILE). A repository that names another one is refused: silently
    dropping it would leave the maintainer wondering why their agent never runs.
    """
    if config.agents is None:
        return config.model_copy(update={"agents": sorted(operator_agents)})
    unknown = [agent for agent in config.agents if agent not in operator_agents]
    if unknown:
        names = ", ".join(repr(a) for a in unknown)
        offered = ", ".join(sorted(operator_agents)) or "none"
        raise InvalidRepoConfig(
            f"{CONFIG_PATH}: agents enables {names}, which this Farcaster server does not "
            f"define (it defines: {offered})."
        )
    return config
