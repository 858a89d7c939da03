"""vault.reveal.limits.MovingWindow with a fake clock: a moving window, the wait until the next
admission, and idle keys swept. (Through the reveal path: test_reveals.py.)"""

from __future__ import annotations

import pytest

from vault.reveal.limits import MovingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_moving_window_admits_n_per_window_and_says_how_long_to_wait():
    clock = Clock()
    window = MovingWindow.parse("3/minute", clock)
    for step in range(3):
        assert window.wait("card") == 0
        window.hit("card")
        clock.now += 10  # hits at 1000, 1010, 1020
    assert window.wait("card") == pytest.approx(30)  # the first hit leaves the window at 1060
    assert window.wait("other card") == 0  # keys are independent
    clock.now = 1060
    assert window.wait("card") == 0  # moving, not fixed: one slot is free again
    window.hit("card")
    assert window.wait("card") == pytest.approx(10)  # until the hit at 1010 leaves


def test_refused_requests_are_not_counted():
    clock = Clock()
    window = MovingWindow(1, 5, clock)
    window.hit("k")
    for _ in range(10):
        assert window.wait("k") > 0  # asking does not count
    clock.now += 5
    assert window.wait("k") == 0


def test_idle_keys_are_swept_once_a_window():
    clock = Clock()
    window = MovingWindow(10, 60, clock)
    for n in range(100):
        window.hit(f"card-{n}")
    assert len(window) == 100
    clock.now += 61
    window.hit("card-new")  # the sweep runs on a hit once a window has passed
    assert len(window) == 1


@pytest.mark.parametrize("text,amount,seconds", [("10/minute", 10, 60), ("100 per second", 100, 1),
                                                  ("6000/minute", 6000, 60), ("5/2 hours", 5, 7200)])
def test_limits_notation(text, amount, seconds):
    window = MovingWindow.parse(text)
    assert (window.amount, window.seconds) == (amount, seconds)


def test_nonsense_limits_are_refused():
    with pytest.raises(ValueError):
        MovingWindow(0, 60)
