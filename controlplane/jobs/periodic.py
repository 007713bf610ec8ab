"""A thread of the control plane that makes a pass every few seconds until the control plane stops."""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Periodic:
    """Calls `run_once` every `interval` seconds on a thread of its own; a pass that fails is logged and the next
    one runs as planned. Subclasses name the thread and say what a failed pass means (`failure`)."""

    thread_name = "periodic"
    failure = "a periodic pass failed; trying again later"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def run_once(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.run_once()
            except Exception:
                log.exception(self.failure)
