"""Startup objects kept out of the garbage collector's full passes.

A built server holds about 127,000 long-lived objects (githubkit's models, SQLAlchemy,
pydantic). CPython's full collection walks all of them, about 75 ms on a 2-core machine,
at unpredictable moments under load: that pause lands in webhook answers' tail latency.
Once the process has built everything it keeps, :func:`freeze_startup_objects` collects
once and moves the survivors to the permanent generation (``gc.freeze``), which later
collections skip. Objects made afterwards are collected as usual.
"""

import gc


def freeze_startup_objects() -> None:
    """Collect once, then exempt everything alive now from later collections."""
    gc.collect()
    gc.freeze()
