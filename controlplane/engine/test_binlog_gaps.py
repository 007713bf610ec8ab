"""The binary log cap's arithmetic: which of a server's logs it keeps (the logs themselves: tests/controlplane)."""

from __future__ import annotations

import pytest

from controlplane.engine.binlog_gaps import first_kept
from controlplane.engine.mariadb import BinlogFile


def logs(*sizes: int) -> list[BinlogFile]:
    return [BinlogFile(name=f"binlog.{number:06d}", size=size) for number, size in enumerate(sizes, 1)]


@pytest.mark.parametrize(
    ("sizes", "max_bytes", "kept"),
    [
        ((), 10, 0),  # no log at all
        ((4, 4, 2), 10, 0),  # within the cap
        ((4, 4, 3), 10, 1),  # one byte over: the oldest goes
        ((4, 4, 3), 3, 2),  # only the log being written fits
        ((4, 4, 30), 10, 2),  # the log being written stays, whatever its size
        ((5,), 1, 0),
    ],
)
def test_the_cap_keeps_the_newest_logs_that_fit_and_always_the_current_one(
    sizes: tuple[int, ...], max_bytes: int, kept: int
) -> None:
    assert first_kept(logs(*sizes), max_bytes) == kept
