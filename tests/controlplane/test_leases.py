"""Catalog leases (controlplane/catalog/leases.py) on SQLite and PostgreSQL: separate processes contending,
a holder killed with -9, renewal, release, cancellation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import leases
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Lease
from tests.plugin_process import REPO

ROUNDS = 15


def child(code: str, catalog_url: str, *args: str) -> subprocess.Popen[str]:
    """A Python process with a catalog session factory `sessions` running `code` (argv in `args`)."""
    prelude = textwrap.dedent(
        """
        import sys, time
        from controlplane.catalog import leases
        from controlplane.catalog.db import make_engine, session_factory
        sessions = session_factory(make_engine(sys.argv[1]))
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", prelude + textwrap.dedent(code), catalog_url, *args],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.PIPE,
        text=True,
    )


def test_two_processes_never_hold_one_lease_at_once(catalog_url: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    # Each round writes "enter" and "leave" around a pause that gives the other process every chance to
    # enter too; appends of one line are atomic, so an overlap shows as two enters in a row.
    code = """
    me, journal = sys.argv[2], sys.argv[3]
    for _ in range(int(sys.argv[4])):
        with leases.hold(sessions, "repo", holder=me, ttl=5, timeout=60):
            with open(journal, "a") as out:
                out.write(f"enter {me}\\n")
            time.sleep(0.01)
            with open(journal, "a") as out:
                out.write(f"leave {me}\\n")
    """
    holders = [child(code, catalog_url, name, str(journal), str(ROUNDS)) for name in ("a", "b")]
    for process in holders:
        assert process.wait(timeout=120) == 0
    lines = journal.read_text().splitlines()
    assert len(lines) == 4 * ROUNDS
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.startswith("enter ") and leave == "leave " + enter.removeprefix("enter "), lines


def test_a_holder_killed_with_sigkill_is_replaced_after_its_ttl(
    catalog_url: str, sessions: sessionmaker[Session]
) -> None:
    ttl = 2.0
    holder = child(
        """
        with leases.hold(sessions, "repo", holder="doomed", ttl=float(sys.argv[2]), timeout=10):
            print("held", flush=True)
            time.sleep(600)
        """,
        catalog_url,
        str(ttl),
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder.kill()
    holder.wait(timeout=30)
    with (
        pytest.raises(leases.LeaseTimeout, match="'repo' is still held by doomed"),
        leases.hold(sessions, "repo", holder="next", ttl=ttl, timeout=0),
    ):
        pass
    started = time.monotonic()
    with leases.hold(sessions, "repo", holder="next", ttl=ttl, timeout=ttl * 5):
        assert leases.current_holder(sessions, "repo") == "next"
    assert time.monotonic() - started < ttl * 5
    assert leases.current_holder(sessions, "repo") is None, "released when the block ends"


def test_renewal_keeps_a_long_holders_lease(sessions: sessionmaker[Session]) -> None:
    ttl = 1.0
    with leases.hold(sessions, "repo", holder="long", ttl=ttl, timeout=0):
        deadline = time.monotonic() + ttl * 3
        while time.monotonic() < deadline:
            with (
                pytest.raises(leases.LeaseTimeout, match="held by long"),
                leases.hold(sessions, "repo", holder="other", ttl=ttl, timeout=0),
            ):
                pass
            time.sleep(ttl / 4)
    with leases.hold(sessions, "repo", holder="other", ttl=ttl, timeout=0):
        pass


def test_two_threads_of_one_process_exclude_each_other(sessions: sessionmaker[Session]) -> None:
    holder = leases.process_holder()
    inside: list[str] = []
    overlaps: list[str] = []

    def work(name: str) -> None:
        for _ in range(5):
            with leases.hold(sessions, "repo", holder=holder, ttl=5, timeout=60):
                if inside:
                    overlaps.append(name)
                inside.append(name)
                time.sleep(0.01)
                inside.remove(name)

    threads = [threading.Thread(target=work, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert holder.split(":")[1] == str(os.getpid())


def test_a_cancelled_wait_raises_lease_cancelled(sessions: sessionmaker[Session]) -> None:
    cancel = threading.Event()
    with leases.hold(sessions, "repo", holder="first", ttl=5, timeout=0):
        threading.Timer(0.2, cancel.set).start()
        with (
            pytest.raises(leases.LeaseCancelled, match="'repo'"),
            leases.hold(sessions, "repo", holder="second", ttl=5, timeout=60, cancel=cancel),
        ):
            pass


def test_a_lost_lease_cancels_the_work_under_it(sessions: sessionmaker[Session]) -> None:
    cancel = threading.Event()
    ttl = 0.6
    with leases.hold(sessions, "repo", holder="slow", ttl=ttl, timeout=0, cancel=cancel):
        # As when the holder stalled past its ttl and another control plane took the lease over.
        with transaction(sessions) as session:
            session.execute(update(Lease).where(Lease.name == "repo").values(holder="thief", token="thief"))
        assert cancel.wait(ttl * 3), "the renewal noticed the lease was taken"
    assert leases.current_holder(sessions, "repo") == "thief", "the release leaves another's lease alone"
