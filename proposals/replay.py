"""`farcaster jobs replay JOB`: interpret a job's stored proposal once more.

Replay does not run the agent. It moves the job back to PROPOSED, keeping its effects
ledger, and a worker re-interprets it: every step it already did is found (in the ledger,
or on GitHub by its lookup), so replaying a finished job converges on the same branch,
pull request, check run and comment and creates nothing new. That makes replay the
operator's tool after a crash, a lost outbox item, or a fix to the interpreter itself.
"""

from bot.core.records import Job
from bot.store import Store


def replay(store: Store, job_id: str, *, actor: str = "operator") -> Job:
    """Queue the job (id or unambiguous prefix) for the interpreter; returns it as queued."""
    job = store.find(job_id)
    return store.reopen_for_apply(job.id, actor=actor)
