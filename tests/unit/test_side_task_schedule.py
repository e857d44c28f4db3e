"""When the worker loop runs its side tasks: rest after an empty run, at once after a wake."""

from bot.worker.side_tasks import SideTaskSchedule

REST = 0.1


def test_side_tasks_run_in_the_first_round():
    assert SideTaskSchedule(REST).start_if_due(0.0)


def test_after_an_empty_run_they_rest_and_then_run_again():
    schedule = SideTaskSchedule(REST)
    assert schedule.start_if_due(10.0)
    schedule.ran(10.0, handled=0)
    assert not schedule.start_if_due(10.05)
    assert schedule.start_if_due(10.1)


def test_after_a_run_that_handled_items_they_run_again_at_once():
    schedule = SideTaskSchedule(REST)
    assert schedule.start_if_due(10.0)
    schedule.ran(10.0, handled=3)
    assert schedule.start_if_due(10.001)


def test_a_wake_cuts_the_rest_short_once():
    # Triage committed a job and its queued status edit just after an empty drain: the next
    # round must drain it before claiming the job, not 100 ms later.
    schedule = SideTaskSchedule(REST)
    assert schedule.start_if_due(10.0)
    schedule.ran(10.0, handled=0)
    schedule.wake()
    assert schedule.start_if_due(10.01)
    schedule.ran(10.01, handled=0)
    assert not schedule.start_if_due(10.02)  # the wake was used up by that run


def test_a_wake_during_a_run_keeps_them_due_for_the_next_round():
    # The run may have looked at the outbox before the commit that woke it.
    schedule = SideTaskSchedule(REST)
    assert schedule.start_if_due(10.0)
    schedule.wake()
    schedule.ran(10.0, handled=0)
    assert schedule.start_if_due(10.01)
