"""Time as an input: the one polling loop, over a clock that tests replace.

Every wait (a release phase, a Heroku build, an output stream that is not there yet, a health
check, a dyno waiting for its database) is "ask, and ask again later, until the answer is final,
the deadline passes or the attempts run out". Written once here so that a test can pass a
clock whose ``sleep`` only moves its own time forward. tenacity covers the retry half, but it
reads ``time.monotonic`` itself for its delay-based stop and has no "last answer at the
deadline" result, which every caller here needs (a still-pending release is an answer, not an
error).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Clock:
    """Monotonic time and sleep, injected together so they cannot disagree."""

    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def deadline(self, seconds: float) -> float:
        return self.monotonic() + seconds

    def remaining(self, deadline: float) -> float:
        return max(0.0, deadline - self.monotonic())

    def pause(self, seconds: float, deadline: float) -> None:
        """Sleeps `seconds`, but never past the deadline."""
        self.sleep(min(seconds, self.remaining(deadline)))


SYSTEM = Clock()


def poll(ask: Callable[[], T], done: Callable[[T], bool], *, deadline: float = math.inf,
         clock: Clock = SYSTEM, delay: float, factor: float = 2.0,
         max_delay: float = 5.0, attempts: int | None = None) -> T:
    """Asks until `done(answer)`, the deadline passes or `attempts` answers were given; returns
    the last answer either way (the caller judges an unfinished one). Pauses grow by `factor`
    up to `max_delay`."""
    asked = 0
    while True:
        answer = ask()
        asked += 1
        if done(answer) or (attempts is not None and asked >= attempts):
            return answer
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            return answer
        clock.sleep(min(delay, remaining))
        delay = min(delay * factor, max_delay)
