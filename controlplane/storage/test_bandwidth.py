"""The copy bandwidth's budget, on a clock the test moves (the waits are computed, not slept)."""

from __future__ import annotations

import threading

import pytest

from controlplane.storage.bandwidth import Bandwidth, BandwidthWaitCancelled

MB = 1024 * 1024


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_one_second_of_budget_then_the_rate() -> None:
    clock = Clock()
    cap = Bandwidth(2 * MB, clock=clock)
    assert cap.reserve(2 * MB) == 0.0, "a fresh budget holds one second's worth"
    assert cap.reserve(1 * MB) == pytest.approx(0.5)
    assert cap.reserve(1 * MB) == pytest.approx(1.0), "each reservation waits behind the ones before it"
    clock.now += 1.0
    assert cap.reserve(0) == pytest.approx(0.0)


def test_an_idle_copy_bursts_one_second_at_most() -> None:
    clock = Clock()
    cap = Bandwidth(1 * MB, clock=clock)
    clock.now += 3600
    assert cap.reserve(1 * MB) == 0.0
    assert cap.reserve(1 * MB) == pytest.approx(1.0), "an hour idle saved one second, not an hour"


def test_threads_share_the_budget() -> None:
    clock = Clock()
    cap = Bandwidth(1 * MB, clock=clock)
    waits: list[float] = []
    threads = [threading.Thread(target=lambda: waits.append(cap.reserve(MB // 4))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == pytest.approx([0, 0, 0, 0, 0.25, 0.5, 0.75, 1.0])


def test_a_wait_ends_when_cancelled() -> None:
    cap = Bandwidth(1024)
    cancel = threading.Event()
    cap.take(1024, cancel)  # the first second's budget
    cancel.set()
    with pytest.raises(BandwidthWaitCancelled):
        cap.take(10 * MB, cancel)  # ~3 hours at 1 KiB/s unless the cancel ends the wait


def test_a_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="bytes_per_second"):
        Bandwidth(0)
