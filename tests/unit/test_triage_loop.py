"""The triage loop tells this process's workers when a pass decided deliveries."""

import threading

from webhooks.triage import run_triage_forever


class ScriptedTriage:
    """Decides 2 deliveries on its first pass, then none; stops the loop on its third."""

    def __init__(self, stop: threading.Event) -> None:
        self.passes = 0
        self.stop = stop

    def run_once(self) -> int:
        self.passes += 1
        if self.passes == 3:
            self.stop.set()
        return 2 if self.passes == 1 else 0


def test_only_a_pass_that_decided_something_wakes_the_workers() -> None:
    stop, wake = threading.Event(), threading.Event()
    triage = ScriptedTriage(stop)
    woken: list[int] = []

    run_triage_forever(triage, stop, wake, decided=lambda: woken.append(triage.passes))  # type: ignore[arg-type]

    assert woken == [1]
    assert triage.passes == 3
