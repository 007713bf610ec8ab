"""A cap on the bytes per second that the copies into one region write, shared by every copy thread.

Copies to a backup region cross the network between regions, which the region's own backups and restores use
too; an operator caps them per region (`copy_bandwidth_mb`, controlplane/settings.py). A token bucket holding
at most one second of budget: a copy idle for a while may burst one second's worth, never more.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class BandwidthWaitCancelled(Exception):
    """The wait for budget was abandoned: the `cancel` event was set."""


class Bandwidth:
    """`take(n)` returns once `n` more bytes fit within `bytes_per_second`; callers in any thread share it."""

    def __init__(self, bytes_per_second: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if bytes_per_second <= 0:
            raise ValueError(f"bytes_per_second must be positive, got {bytes_per_second!r}")
        self.bytes_per_second = bytes_per_second
        self._clock = clock
        self._lock = threading.Lock()
        self._available = bytes_per_second  # the budget not spent yet; negative: owed by reservations
        self._updated = clock()

    def reserve(self, count: int) -> float:
        """Spend `count` bytes of the budget now; how many seconds to wait before writing them."""
        with self._lock:
            now = self._clock()
            budget = self._available + (now - self._updated) * self.bytes_per_second
            self._available = min(budget, self.bytes_per_second) - count
            self._updated = now
            return max(0.0, -self._available / self.bytes_per_second)

    def take(self, count: int, cancel: threading.Event | None = None) -> None:
        """Wait until `count` bytes may be written (BandwidthWaitCancelled: `cancel` was set meanwhile)."""
        delay = self.reserve(count)
        if delay <= 0:
            return
        if cancel is None:
            time.sleep(delay)
        elif cancel.wait(delay):
            raise BandwidthWaitCancelled("cancelled while waiting for the region's copy bandwidth")
