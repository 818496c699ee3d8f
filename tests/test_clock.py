"""The one polling loop: answers, pauses and the deadline, on a clock that only counts."""

from __future__ import annotations

from appwrite_heroku.clock import Clock, poll


class CountingClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    @property
    def clock(self) -> Clock:
        return Clock(monotonic=lambda: self.now, sleep=self.sleep)


def test_poll_stops_at_the_first_final_answer_with_growing_pauses() -> None:
    counting = CountingClock()
    answers = iter(["pending", "pending", "pending", "succeeded", "never asked"])
    answer = poll(lambda: next(answers), lambda a: a != "pending", deadline=200.0,
                  clock=counting.clock, delay=0.4, factor=2.0, max_delay=1.0)
    assert answer == "succeeded"
    assert counting.sleeps == [0.4, 0.8, 1.0]


def test_poll_returns_the_last_answer_at_the_deadline_without_sleeping_past_it() -> None:
    counting = CountingClock()
    asked: list[float] = []

    def ask() -> str:
        asked.append(counting.now)
        return "pending"

    answer = poll(ask, lambda a: a != "pending", deadline=102.5, clock=counting.clock,
                  delay=1.0, factor=2.0, max_delay=5.0)
    assert answer == "pending"
    assert counting.sleeps == [1.0, 1.5]  # the second pause ends at the deadline
    assert asked == [100.0, 101.0, 102.5]  # one last answer at the deadline itself


def test_pause_never_passes_the_deadline() -> None:
    counting = CountingClock()
    clock = counting.clock
    clock.pause(5.0, deadline=clock.deadline(2.0))
    clock.pause(5.0, deadline=clock.deadline(-1.0))
    assert counting.sleeps == [2.0, 0.0]


def test_poll_gives_up_after_its_attempts_with_even_pauses() -> None:
    counting = CountingClock()
    asked: list[float] = []

    def ask() -> str:
        asked.append(counting.now)
        return "down"

    answer = poll(ask, lambda a: a == "up", clock=counting.clock, delay=7.0, factor=1.0,
                  max_delay=7.0, attempts=3)
    assert answer == "down"
    assert asked == [100.0, 107.0, 114.0]  # three answers, no pause after the last
    assert counting.sleeps == [7.0, 7.0]


def test_poll_attempts_and_deadline_whichever_comes_first() -> None:
    counting = CountingClock()
    answers = iter(["down", "down", "up"])
    assert poll(lambda: next(answers), lambda a: a == "up", clock=counting.clock, delay=1.0,
                attempts=10) == "up"
    counting = CountingClock()
    poll(lambda: "down", lambda a: a == "up", deadline=101.5, clock=counting.clock, delay=1.0,
         factor=1.0, attempts=10)
    assert counting.sleeps == [1.0, 0.5]
