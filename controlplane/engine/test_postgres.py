"""The PostgreSQL driver against real PostgreSQL 15 servers: no mocks.

One server is shared by the module's tests (each test leaves it running with the hobbyist plan); the
tests about creating, moving and removing clusters build their own.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from controlplane.engine import marks
from controlplane.engine.plans import PLANS, plan_settings
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import DEFAULT_BIN_DIR, Postgres, PostgresError

USERNAME = "dbaas_admin"
PASSWORD = secrets.token_urlsafe(16)
# Test servers keep nothing worth a flush to disk; commits still reach the WAL (kill -9 keeps them).
FAST = {"fsync": "off"}


@pytest.fixture(scope="module")
def bin_dir() -> Path:
    """The PostgreSQL 15 programs; the tests fail, never skip, without them."""
    path = Path(os.environ.get("DBAAS_POSTGRES_BIN", str(DEFAULT_BIN_DIR)))
    if not os.access(path / "pg_ctl", os.X_OK):
        pytest.fail(f"PostgreSQL 15 must be installed (no pg_ctl in {path}): apt-get install postgresql-15")
    return path


@pytest.fixture(scope="module")
def base_dir() -> Iterator[Path]:
    """A directory the unprivileged account can enter (pytest's tmp dirs are root's 0700 ones)."""
    base = Path(tempfile.mkdtemp(prefix="dbaas-test-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def create(data_dir: Path, bin_dir: Path, *, start: bool = True) -> Postgres:
    """initdb + configure (+ start) a hobbyist cluster on a free port."""
    port = free_loopback_port()
    pg = Postgres(data_dir, port=port, bin_dir=bin_dir)
    pg.initdb(username=USERNAME, password=PASSWORD)
    pg.configure(plan=PLANS["hobbyist"], port=port, extra=FAST)
    if start:
        pg.start()
    return pg


@pytest.fixture(scope="module")
def server(base_dir: Path, bin_dir: Path) -> Iterator[Postgres]:
    """The module's shared running server."""
    pg = create(base_dir / "shared" / "data", bin_dir)
    yield pg
    pg.remove()


def connect(pg: Postgres, password: str = PASSWORD) -> psycopg.Connection[tuple[object, ...]]:
    """A superuser session over TCP with the password."""
    return psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        user=USERNAME,
        password=password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    )


def show(pg: Postgres, setting: str) -> str:
    with connect(pg) as conn:
        row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None
    return str(row[0])


def write_row(pg: Postgres, table: str, value: str) -> None:
    with connect(pg) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (value text)")
        conn.execute(f"INSERT INTO {table} VALUES (%s)", (value,))


def read_rows(pg: Postgres, table: str) -> list[str]:
    with connect(pg) as conn:
        return [str(row[0]) for row in conn.execute(f"SELECT value FROM {table} ORDER BY value")]


def account_uid() -> int:
    """The uid the server must run as: `postgres` when we are root, else ourselves."""
    return pwd.getpwnam("postgres").pw_uid if os.geteuid() == 0 else os.geteuid()


def test_password_login_over_tcp_reads_and_writes(server: Postgres) -> None:
    write_row(server, "greeting", "hello")
    assert read_rows(server, "greeting") == ["hello"]
    assert show(server, "data_checksums") == "on"
    assert show(server, "listen_addresses") == "127.0.0.1"
    assert show(server, "server_version").startswith("15.")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(server, password="wrong").close()


def test_server_runs_as_the_unprivileged_account(server: Postgres, base_dir: Path) -> None:
    pid = server.pid()
    assert pid is not None
    status = Path(f"/proc/{pid}/status").read_text()
    real_uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert real_uid == account_uid() == server.account.uid
    info = server.data_dir.stat()
    assert (info.st_uid, info.st_mode & 0o777) == (account_uid(), 0o700)
    # The password file of initdb is gone.
    assert not [path for path in base_dir.rglob(".dbaas-pw-*")]


def test_start_and_stop_are_idempotent_and_keep_data(server: Postgres) -> None:
    write_row(server, "kept", "before stop")
    server.stop()
    server.stop()
    assert (server.status(), server.pid(), server.is_running()) == ("stopped", None, False)
    server.start()
    server.start()
    assert server.status() == "running"
    assert read_rows(server, "kept") == ["before stop"]


def test_plan_change_applies_after_restart(server: Postgres) -> None:
    try:
        server.configure(plan=PLANS["startup-4"], port=server.port, extra=FAST)
        server.restart()
        assert (show(server, "shared_buffers"), show(server, "max_connections")) == ("1GB", "100")
        assert show(server, "work_mem") == plan_settings(PLANS["startup-4"])["work_mem"]
    finally:
        server.configure(plan=PLANS["hobbyist"], port=server.port, extra=FAST)
        server.restart()
    assert (show(server, "shared_buffers"), show(server, "max_connections")) == ("32MB", "25")


def test_stale_postmaster_pid_after_kill_9(server: Postgres) -> None:
    write_row(server, "survivor", "committed")
    pid = server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.is_running() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server.is_running()
    pidfile = server.data_dir / "postmaster.pid"
    assert pidfile.exists()
    # After a reboot the old pid may belong to another live process of the same account, which makes
    # the server itself refuse to start: the driver must see through it.
    account = server.account
    impostor = subprocess.Popen(
        ["sleep", "60"], user=account.uid if account.switch else None, group=account.gid if account.switch else None
    )
    try:
        lines = pidfile.read_text().split("\n")
        pidfile.write_text("\n".join([str(impostor.pid), *lines[1:]]))
        assert server.status() == "stopped"
        server.start()
        assert server.is_running() and server.pid() != impostor.pid
        assert read_rows(server, "survivor") == ["committed"]
    finally:
        impostor.kill()
        impostor.wait()


def test_failed_start_reports_the_server_log(server: Postgres) -> None:
    server.stop()
    try:
        server.configure(plan=PLANS["hobbyist"], port=server.port, extra={"shared_buffers": "lots"})
        with pytest.raises(PostgresError, match="shared_buffers") as failure:
            server.start(timeout=20)
        assert "end of" in str(failure.value) and "server.log" in str(failure.value)
        assert not server.is_running()
    finally:
        server.configure(plan=PLANS["hobbyist"], port=server.port, extra=FAST)
        server.start()


def test_cancelled_start_leaves_no_server(server: Postgres) -> None:
    server.stop()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(PostgresError, match="cancelled"):
        server.start(cancel=cancel)
    assert not server.is_running()
    server.start()
    assert server.is_running()


def test_initdb_wipes_a_partial_directory_and_keeps_a_complete_one(base_dir: Path, bin_dir: Path) -> None:
    data_dir = base_dir / "partial" / "data"
    data_dir.parent.mkdir()
    marks.mark(data_dir)  # a crash of ours after the mark, before the cluster was complete
    data_dir.mkdir()
    (data_dir / "stray").write_text("left by a crash")
    pg = Postgres(data_dir, port=free_loopback_port(), bin_dir=bin_dir)
    assert pg.status() == "missing"
    pg.initdb(username=USERNAME, password=PASSWORD)
    assert not (data_dir / "stray").exists()
    assert pg.status() == "stopped"
    control = (data_dir / "global" / "pg_control").stat()
    (data_dir / "marker").write_text("still here")
    pg.initdb(username=USERNAME, password="another password")
    assert (data_dir / "marker").exists()
    assert (data_dir / "global" / "pg_control").stat().st_mtime_ns == control.st_mtime_ns
    pg.remove()
    assert pg.status() == "missing" and not data_dir.exists()


def test_initdb_keeps_what_the_control_plane_did_not_make(base_dir: Path, bin_dir: Path) -> None:
    data_dir = base_dir / "someone-elses"
    data_dir.mkdir()
    (data_dir / "precious").write_text("not ours")
    pg = Postgres(data_dir, port=free_loopback_port(), bin_dir=bin_dir)

    with pytest.raises(PostgresError, match="no mark of the control plane"):
        pg.initdb(username=USERNAME, password=PASSWORD)
    with pytest.raises(PostgresError, match="no mark of the control plane"):
        pg.remove()
    assert (data_dir / "precious").read_text() == "not ours"


def test_parallel_clusters_move_and_remove(base_dir: Path, bin_dir: Path) -> None:
    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda name: create(base_dir / name / "data", bin_dir), ["one", "two"])
    try:
        assert first.is_running() and second.is_running() and first.port != second.port
        write_row(first, "moved", "along")
        # /dev/shm is another filesystem: the move is a copy, whose files must go back to the account.
        elsewhere = Path(tempfile.mkdtemp(prefix="dbaas-test-", dir="/dev/shm"))
        try:
            elsewhere.chmod(0o711)
            moved = first.move_to(elsewhere / "data")
            assert not first.data_dir.exists() and moved.status() == "stopped"
            assert (moved.data_dir / "base").stat().st_uid == account_uid()
            moved.start()
            assert read_rows(moved, "moved") == ["along"]
            moved.remove()
            assert moved.status() == "missing" and not moved.data_dir.exists()
        finally:
            shutil.rmtree(elsewhere, ignore_errors=True)
        second.remove()
        assert not second.data_dir.exists() and second.status() == "missing"
    finally:
        first.remove()
        second.remove()
