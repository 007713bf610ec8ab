"""Reads made once per provider configuration and shared by every caller: a plan's refresh of 200 backups
costs one backup list per service, and its region checks one region list.

During a plan Terraform calls the provider concurrently (one thread per call). `OncePerKey` fetches a key's
value on the first call for it; calls arriving meanwhile wait for that same fetch (single flight), later
ones reuse its value. A fetch that fails is not kept: the callers waiting on it get its error and the next
call fetches again.

Its owner, the `Client`, is made at each ConfigureProvider: a value lives for one Terraform operation phase
(a plan's refresh), never into a later plan, even in a provider process kept alive by `--debug`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class OncePerKey(Generic[Key, Value]):
    """Each key's value, fetched by its first caller and shared with every later one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Key, Future[Value]] = {}

    def get(self, key: Key, fetch: Callable[[], Value]) -> Value:
        """The value of `key`: fetched now if no call fetched it yet, else what that call fetched."""
        with self._lock:
            pending = self._values.get(key)
            fetching = pending is None
            if pending is None:
                pending = self._values[key] = Future()
        if not fetching:
            return pending.result()
        try:
            value = fetch()
        except BaseException as err:
            with self._lock:
                del self._values[key]
            pending.set_exception(err)
            raise
        pending.set_result(value)
        return value
