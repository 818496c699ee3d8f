"""Waiting for an event in a test: ask until the answer is there, with a deadline. Never a fixed
sleep: a sleep long enough for a loaded CI machine wastes time everywhere else, and one short
enough for a laptop fails under load."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(what: str, check: Callable[[], T], timeout: float = 10.0,
               every: float = 0.02) -> T:
    """The first truthy answer of `check`; fails naming `what` (and the last answer) when none
    came within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s (last answer: {answer!r})")
        time.sleep(every)
