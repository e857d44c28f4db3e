"""Which names git's own directory goes by, on every file system a checkout may land on.

``.git`` in any letter case (macOS and Windows fold case), with trailing dots or spaces
(NTFS drops them), as NTFS's short name ``GIT~1``, or with the zero-width characters HFS+
ignores: git itself refuses all of these (``core.protectNTFS``, ``core.protectHFS``), and
so do the snapshot, the runner and proposal validation.
"""

import re

# Code points HFS+ ignores in names (git's is_hfs_dotgit): ".g\u200cit" is ".git" there.
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def is_git_dir_name(part: str) -> bool:
    """Whether some checkout (Linux, macOS, Windows) would take ``part`` for ``.git``."""
    name = _HFS_IGNORED.sub("", part).rstrip(". ").lower()
    return name in (".git", "git~1")
