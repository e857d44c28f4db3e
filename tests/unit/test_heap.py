"""Startup objects leave the collector's full passes; later garbage is still collected."""

import gc
import weakref

from bot.app.heap import freeze_startup_objects


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the collector frees it


def test_objects_alive_at_startup_are_frozen_and_later_cycles_are_still_collected() -> None:
    kept = Node()
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        later = Node()
        gone = weakref.ref(later)
        del later
        gc.collect()
        assert gone() is None
        assert kept.me is kept
    finally:
        gc.unfreeze()
