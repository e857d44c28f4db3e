"""Names derived from the triggering comment (pure): job id, idempotency key, markers.

Every effect of a comment is keyed by the comment's global ``node_id``, so a redelivery, a
second webhook about the same comment or a rebuilt database map it to the same job, branch
(``farcaster/<job id>``), reply and reaction.
"""

import hashlib


def comment_key(node_id: str) -> str:
    """``comment:<node_id>``: the job's idempotency key and the key of the comment's replies."""
    return f"comment:{node_id}"


def job_id_for_comment(node_id: str) -> str:
    """The first 12 hex characters of sha256 of the comment's node id."""
    return hashlib.sha256(node_id.encode()).hexdigest()[:12]
