"""More routines for operating on iterables, re-exported from their modules."""

from .more import *  # noqa: F403
from .recipes import *  # noqa: F403

__version__ = "1.0.0"
