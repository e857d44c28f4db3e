"""A bare store worker for the process tests: claim, hold, store a proposal, complete.

Run as ``python -m tests.integration.store_worker URL WORKER_ID [--limit N] [--lease S]
[--exit-when-empty]``. Each job's ``command["hold"]`` says how long to hold it (seconds);
while holding, a heartbeat thread renews the lease unless ``--no-heartbeat``. A worker
whose heartbeat is refused stops and writes nothing, as a real runner does, unless
``--ignore-lease-loss`` asks it to behave like a paused holder that never noticed.
"""

import argparse
import sys
import threading
import time

from bot.core.errors import StaleFencingToken
from bot.core.records import Lease, NewProposal, Phase
from bot.store import Database, Store

DIFF = "diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"


def hold(store: Store, lease: Lease, seconds: float, heartbeat: bool) -> bool:
    """Hold the job for ``seconds``; False if the lease was lost meanwhile."""
    lost = threading.Event()  # set when a renewal touched no row
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(store.lease_seconds / 3, max(0.0, deadline - time.monotonic())))
        if (
            heartbeat
            and time.monotonic() < deadline
            and not store.heartbeat(lease.job_id, lease.token)
        ):
            lost.set()
            break
    return not lost.is_set()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("worker_id")
    parser.add_argument("--limit", type=int, default=1)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--exit-when-empty", action="store_true")
    parser.add_argument("--no-heartbeat", action="store_true")
    parser.add_argument("--ignore-lease-loss", action="store_true")
    args = parser.parse_args()
    store = Store(Database.from_url(args.url), lease_seconds=args.lease, max_attempts=10)
    idle = 0
    while True:
        leases = store.claim(args.worker_id, Phase.RUN, limit=args.limit)
        if not leases:
            waiting = store.list_jobs(state="queued", limit=1) + store.list_jobs(
                state="running", limit=1
            )
            if args.exit_when_empty and not waiting:
                idle += 1
                if idle > 3:
                    return 0
            time.sleep(0.05)
            continue
        idle = 0
        for lease in leases:
            print(f"claimed {lease.job_id} token={lease.token}", flush=True)
            held = hold(
                store, lease, float(lease.job.command.get("hold", 0)), not args.no_heartbeat
            )
            if not held and not args.ignore_lease_loss:
                print(f"lost {lease.job_id}", flush=True)
                continue
            if args.ignore_lease_loss:
                # The paused holder's late writes: a proposal, then a completion.
                try:
                    store.store_proposal(
                        lease.job_id, lease.token, NewProposal("a" * 40, DIFF, "t", "1")
                    )
                except StaleFencingToken:
                    print(f"refused proposal {lease.job_id}", flush=True)
            try:
                store.complete(lease.job_id, lease.token)
                print(f"done {lease.job_id}", flush=True)
            except StaleFencingToken:
                print(f"refused completion {lease.job_id}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
