"""File sets for admin requests: a folder on disk, or a JSON dict of path -> content.

A value is a string (UTF-8 text, mode 100644), an object ``{"content": str, "encoding":
"utf-8"|"base64", "mode": "100644"|"100755"|"120000"}``, or ``null`` to delete the path
(pushes only). A folder keeps executable bits and symlinks and skips ``.git``.
"""

import base64
import os
from pathlib import Path
from typing import Any

from bot.emulator.gitrepo import TreeChange

FILE_MODES = ("100644", "100755", "120000")


class BadFiles(ValueError):
    """The file set cannot be read; the message says which entry and why."""


def from_json(files: Any, *, allow_delete: bool) -> list[TreeChange]:
    if not isinstance(files, dict):
        raise BadFiles("files must be an object of path -> content")
    changes = []
    for path, value in files.items():
        if value is None:
            if not allow_delete:
                raise BadFiles(f"{path}: null deletes a file, which only a push can do")
            changes.append(TreeChange(path, "100644", "blob"))
            continue
        if isinstance(value, str):
            changes.append(TreeChange(path, "100644", "blob", content=value.encode()))
            continue
        if not isinstance(value, dict) or not isinstance(value.get("content"), str):
            raise BadFiles(f"{path}: expected a string or an object with content")
        mode = str(value.get("mode", "100644"))
        if mode not in FILE_MODES:
            raise BadFiles(f"{path}: mode {mode} is not one of {', '.join(FILE_MODES)}")
        raw = value["content"]
        try:
            data = base64.b64decode(raw) if value.get("encoding") == "base64" else raw.encode()
        except ValueError:
            raise BadFiles(f"{path}: content is not valid base64") from None
        changes.append(TreeChange(path, mode, "blob", content=data))
    return changes


def from_folder(folder: Path) -> list[TreeChange]:
    if not folder.is_dir():
        raise BadFiles(f"{folder} is not a directory")
    changes = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(names):
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            if path.is_symlink():
                target = os.readlink(path).encode()
                changes.append(TreeChange(relative, "120000", "blob", content=target))
            else:
                mode = "100755" if os.access(path, os.X_OK) else "100644"
                changes.append(TreeChange(relative, mode, "blob", content=path.read_bytes()))
    return changes
