"""A rope project over a checkout that never imports or runs the repository's code.

Rope reads its preferences from the project: ``.ropeproject/config.py`` (which it *executes*)
and ``[tool.rope]`` in ``pyproject.toml``, and some preferences make it import modules:
``extension_modules`` and ``import_dynload_stdmods`` are imported to be inspected (a module of
the checkout when the checkout is on ``sys.path``), ``type_hinting_factory`` names an object
that rope imports, and ``perform_doa`` runs modules to observe them. So:

- no rope folder (``ropefolder=None``): ``config.py`` is never read, nothing is written;
- every preference that can import, run, widen the search path or hide files is set here,
  after the project's own configuration, so a repository cannot change it;
- analysis stays static (``automatic_soa`` off, ``soa_followed_calls`` 0): rope parses
  files, it never executes them.
"""

from pathlib import Path
from typing import Any

from rope.base.fscommands import FileSystemCommands
from rope.base.project import Project

SAFE_PREFS: dict[str, Any] = {
    "extension_modules": [],
    "import_dynload_stdmods": False,
    "type_hinting_factory": "rope.base.oi.type_hinting.factory.default_type_hinting_factory",
    "perform_doa": False,
    "automatic_soa": False,
    "soa_followed_calls": 0,
    "save_objectdb": False,
    "validate_objectdb": False,
    "save_history": False,
    "python_path": [],
    "source_folders": [],
    "python_files": ["*.py"],
    "ignored_resources": [".git", ".hg", ".svn", "*.pyc", "*~"],
    "ignore_syntax_errors": False,
    "ignore_bad_imports": False,
}


def open_project(root: Path) -> Project:
    """A rope project on ``root`` with :data:`SAFE_PREFS`; the caller closes it."""
    return Project(str(root), fscommands=FileSystemCommands(), ropefolder=None, **SAFE_PREFS)
