"""Test hook: a tick process that pauses after its first interferogram pair, so a test can kill it there.

Put this folder on ``PYTHONPATH`` and set ``SNAPSTAMPS_TEST_PAUSE_AFTER_FIRST_PAIR_S`` (seconds) in a
subprocess' environment: Python imports ``sitecustomize`` at start-up, and this one wraps
``SubscriptionStore.pair_done`` so that the first pair a process records as done is followed by
that pause (later pairs run at full speed); with ``SNAPSTAMPS_TEST_PAUSE_SUBSCRIPTION`` set, only
pairs of that subscription count.  With the engine as fast as it is, a tick over a
dozen small pairs can otherwise end before a test polling the store gets to kill it; the pause
makes "killed after its first finished pair" deterministic on a busy machine as on an idle one.
Nothing happens without the variable (the folder is only on the path of the tests that use it).
"""

import os

_delay = float(os.environ.get("SNAPSTAMPS_TEST_PAUSE_AFTER_FIRST_PAIR_S") or 0)
_only = os.environ.get("SNAPSTAMPS_TEST_PAUSE_SUBSCRIPTION")
if _delay > 0:
    try:
        import functools
        import time

        from snapstamps.systematic.store import SubscriptionStore

        _original = SubscriptionStore.pair_done
        _done = []

        @functools.wraps(_original)
        def _pair_done(self, run_id, name, *args, **kwargs):  # type: ignore[no-untyped-def]
            result = _original(self, run_id, name, *args, **kwargs)
            if not _done and (not _only or name == _only):
                _done.append(True)
                time.sleep(_delay)
            return result

        SubscriptionStore.pair_done = _pair_done
    except ImportError:  # a Python without snapstamps (not one of ours)
        pass
