"""One worker-loop round, for tests: what ``run_forever`` does in a round, then waiting.

It claims through :meth:`WorkerLoop.start_round` (the round ``run_forever`` runs), waits for
those handlers to end, and writes their completions as the next round would.
"""

from bot.worker.loop import WorkerLoop


def one_round(loop: WorkerLoop) -> int:
    """Claim for every free slot, wait for those jobs, write their completions; how many."""
    ended = loop.start_round()
    for handler_ended in ended:
        handler_ended.wait()
    loop.write_completions()
    return len(ended)
