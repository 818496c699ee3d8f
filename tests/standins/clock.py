"""A clock for tests that wait: real time plus every second the code under test chose to sleep.

The engine's waits (release phase, health, a Heroku build) sleep on this clock without sleeping;
the Heroku stand-in reads the same clock, so a release that takes "3 seconds" is over as soon as
the engine has waited for it. Real time still runs underneath, so real socket timeouts and the
stand-in's own pacing stay consistent with it."""

from __future__ import annotations

import threading
import time

from appwrite_heroku.clock import Clock


class SkippingClock:
    def __init__(self) -> None:
        self._skipped = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return time.monotonic() + self._skipped

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._skipped += max(0.0, seconds)
        time.sleep(0)  # still a point where other threads run

    @property
    def skipped(self) -> float:
        return self._skipped

    @property
    def clock(self) -> Clock:
        return Clock(monotonic=self.monotonic, sleep=self.sleep)
