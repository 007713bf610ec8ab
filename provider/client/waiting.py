"""Polling an object of the control plane until it settles (services REBUILDING → RUNNING, backups
Pending → Succeeded): asynchronous work is the rule there (docs/design.md), so every waiting resource uses this.

The next poll comes after an eighth of the time waited so far, at least a tenth of `interval` and at most
twice it (0.1 s → 2 s by default): what settles is seen at most ~1/8 late (a fork RUNNING in 1 s within
~0.13 s of it; growing each delay by half, as before, showed a fork of 1 s at 1.6 s), and a backup that runs
for an hour costs one request every 2 s. Progress is logged every ~10 s.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from provider.client.errors import Cancelled, Failed, NotFound, Timeout

log = logging.getLogger(__name__)
Obj = TypeVar("Obj", bound=Mapping[str, Any])
PROGRESS_EVERY = 10.0  # seconds between INFO lines while waiting
_LATENESS = 8  # the next poll after 1/_LATENESS of the time waited so far


def wait_for(
    fetch: Callable[[], Obj | None],
    *,
    until: Collection[str],
    failed: Collection[str],
    timeout: float,
    stop: threading.Event | None,
    what: str,
    field: str = "state",
    interval: float = 1.0,
) -> Obj:
    """Poll `fetch()` until `obj[field]` is in `until` and return that object.

    Raises `Failed` when the field reaches a state in `failed` (naming `what` and the object's
    state_message), `NotFound` when fetch() returns None (the object disappeared: to wait for a
    deletion, map None to a state, e.g. `lambda: client.service(p, n) or {"state": "GONE"}`),
    `Timeout` after `timeout` seconds and `Cancelled` as soon as `stop` is set.
    """
    started = time.monotonic()
    deadline = started + timeout
    last: Obj | None = None
    logged = started
    while True:
        _check_stop(stop, what, last, field)
        obj = fetch()
        if obj is None:
            was = f" (it was {_state(last, field)})" if last is not None else ""
            raise NotFound(404, "not_found", f"{what} disappeared while waiting for it{was}")
        state = obj.get(field)
        if last is None or state != last.get(field):
            log.debug("%s is %s after %.1f s", what, state, time.monotonic() - started)
        last = obj
        if state in until:
            return obj
        if state in failed:
            raise Failed(f"{what} is {state}: {_message(obj)}", obj)
        now = time.monotonic()
        if now >= deadline:
            raise Timeout(
                f"timed out after {_seconds(timeout)} waiting for {what} to become {' or '.join(sorted(until))}; "
                f"it is still {_state(obj, field)}",
                obj,
            )
        if now - logged >= PROGRESS_EVERY:
            log.info("waiting for %s: %s (%d s)", what, state, now - started)
            logged = now
        # Never sleep past the deadline: one last look at it decides between success and Timeout.
        delay = min(max((now - started) / _LATENESS, interval / 10), interval * 2, deadline - now)
        if stop is not None and stop.wait(delay):
            _check_stop(stop, what, last, field)
        elif stop is None:
            time.sleep(delay)


def _check_stop(stop: threading.Event | None, what: str, last: Mapping[str, Any] | None, field: str) -> None:
    if stop is not None and stop.is_set():
        where = f" (it was {_state(last, field)})" if last is not None else ""
        raise Cancelled(f"stopped waiting for {what}: the provider was asked to stop{where}")


def _state(obj: Mapping[str, Any] | None, field: str) -> str:
    state = str((obj or {}).get(field))
    message = (obj or {}).get("state_message")
    return f"{state}: {message}" if message else state


def _message(obj: Mapping[str, Any]) -> str:
    message = obj.get("state_message")
    return str(message) if message else "the control plane gave no reason"


def _seconds(value: float) -> str:
    return f"{value:.3g} s" if value < 120 else f"{value / 60:.3g} min"
