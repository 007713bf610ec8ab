"""OncePerKey: concurrent callers of a key share one fetch; a failed fetch is fetched again."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from provider.client.once import OncePerKey


def test_concurrent_callers_share_the_first_fetch() -> None:
    once: OncePerKey[str, int] = OncePerKey()
    fetches: list[str] = []
    started, release = threading.Event(), threading.Event()

    def fetch(key: str) -> int:
        fetches.append(key)
        started.set()
        release.wait(10)  # every other caller arrives while this fetch is under way
        return len(fetches)

    with ThreadPoolExecutor(10) as pool:
        first = pool.submit(once.get, "a", lambda: fetch("a"))
        started.wait(10)
        others = [pool.submit(once.get, "a", lambda: fetch("a")) for _ in range(9)]
        release.set()
        answers = [first.result(), *(other.result() for other in others)]
    assert fetches == ["a"] and answers == [1] * 10
    assert once.get("b", lambda: fetch("b")) == 2 and once.get("b", lambda: fetch("b")) == 2


def test_a_failed_fetch_is_not_kept() -> None:
    once: OncePerKey[str, str] = OncePerKey()

    def fail() -> str:
        raise ConnectionError("control plane down")

    with pytest.raises(ConnectionError):
        once.get("a", fail)
    assert once.get("a", lambda: "listed") == "listed"
