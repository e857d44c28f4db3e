"""Repository permissions, ranked once: ``none < read < triage < write < maintain < admin``.

GitHub's collaborator-permission endpoint answers with one of these; a custom role is read
as its base permission by the GitHub client. A word this module does not know ranks as
``none``, so an unexpected answer never grants more than it should.
"""

import enum


class Permission(enum.StrEnum):
    NONE = "none"
    READ = "read"
    TRIAGE = "triage"
    WRITE = "write"
    MAINTAIN = "maintain"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Permission).index(self)

    @classmethod
    def parse(cls, word: str) -> "Permission":
        """The permission GitHub named, or ``NONE`` for a word it does not use."""
        try:
            return cls(word)
        except ValueError:
            return cls.NONE


def at_least(held: str, minimum: Permission) -> bool:
    """True when ``held`` is ``minimum`` or ranks above it."""
    return Permission.parse(held).rank >= minimum.rank
