"""The effects ledger of one job, as one interpreter attempt sees it.

A step is done once: :meth:`Ledger.once` returns the recorded result when the ledger has
the step, and otherwise does the step and records its result (a fenced write: a holder
whose token is stale is refused and stops) before it returns. So a replay after a crash
resumes at the first step that was not recorded.

Steps that depend on the proposal's content (the git objects) record a ``content`` key:
the base SHA and the diff's hash. A ledger written for other content (the agent ran again
and proposed something else) is stale as a whole.

The new tree is built in chunks (proposals/trees.py); :class:`TreeProgress` keeps each
chunk's tree SHA as a step ``tree:<entries covered>`` and each uploaded blob as
``blob:<sha>``, so a requeued attempt continues after the furthest chunk.
"""

from collections.abc import Callable, Mapping
from typing import Any

from bot.core.records import ProposalRecord
from bot.store import Store

Result = dict[str, Any]


def content_key(proposal: ProposalRecord) -> str:
    return f"{proposal.base_sha}:{proposal.diff_sha256}"


class Ledger:
    def __init__(self, store: Store, job_id: str, token: int) -> None:
        self._store = store
        self._job_id = job_id
        self._token = token
        self._done: dict[str, Result] = {s: e.result for s, e in store.effects(job_id).items()}

    def result(self, step: str) -> Result | None:
        return self._done.get(step)

    def steps(self, prefix: str) -> dict[str, Result]:
        """The recorded steps whose names start with ``prefix``."""
        return {s: r for s, r in self._done.items() if s.startswith(prefix)}

    def stale_for(self, content: str) -> bool:
        """True when a content step (one that records ``content``) was for another proposal."""
        return any(r.get("content", content) != content for r in self._done.values())

    def once(
        self,
        step: str,
        do: Callable[[], Mapping[str, Any]],
        *,
        job_updates: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
    ) -> Result:
        """The step's recorded result; when there is none, do the step and record it first."""
        if step in self._done:
            return self._done[step]
        result = dict(do())
        effect = self._store.record_effect(
            self._job_id,
            self._token,
            step,
            result,
            job_updates=job_updates(result) if job_updates else None,
        )
        self._done[step] = effect.result
        return effect.result


class TreeProgress:
    """The chunks of one proposal's tree, as :class:`proposals.trees.Progress` wants them."""

    def __init__(self, ledger: Ledger, content: str, after_chunk: Callable[[], None]) -> None:
        self._ledger = ledger
        self._content = content
        self._after_chunk = after_chunk

    def furthest(self) -> tuple[int, str] | None:
        chunks = self._ledger.steps("tree:").values()
        best = max(chunks, key=lambda r: int(r["end"]), default=None)
        return None if best is None else (int(best["end"]), str(best["sha"]))

    def record(self, end: int, sha: str) -> None:
        self._ledger.once(f"tree:{end}", lambda: {"sha": sha, "end": end, "content": self._content})
        self._after_chunk()

    def has_blob(self, sha: str) -> bool:
        return self._ledger.result(f"blob:{sha}") is not None

    def record_blob(self, sha: str) -> None:
        self._ledger.once(f"blob:{sha}", lambda: {"sha": sha, "content": self._content})
