"""The MariaDB driver against real MariaDB 10.11 servers run by the `mysql` account: no mocks.

One server is shared by the module's tests; the tenant is reached over loopback TCP with the `mariadb`
client, as an application would.
"""

from __future__ import annotations

import dataclasses
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.engine import marks
from controlplane.engine.mariadb import MariaDB, MariaDBError, service_uri
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port

TENANT = "app_owner"
PASSWORD = secrets.token_urlsafe(16) + "'\\\""  # quotes and a backslash reach SQL safely
FAST = {"innodb_flush_log_at_trx_commit": "2", "sync_binlog": "0"}


@pytest.fixture(scope="module")
def base_dir() -> Iterator[Path]:
    """A directory the `mysql` account can enter (pytest's tmp dirs are root's 0700 ones)."""
    if shutil.which("mariadbd", path="/usr/sbin:/usr/bin") is None:
        pytest.fail("MariaDB 10.11 must be installed: apt-get install mariadb-server mariadb-backup")
    base = Path(tempfile.mkdtemp(prefix="dbaas-mariadb-test-"))
    base.chmod(0o711)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def create(home: Path) -> MariaDB:
    """install + configure + start a hobbyist server on a free port."""
    port = free_loopback_port()
    server = MariaDB(home, port=port)
    server.install(username=TENANT, password=PASSWORD)
    server.configure(plan=PLANS["hobbyist"], port=port, extra=FAST)
    server.start()
    return server


@pytest.fixture(scope="module")
def server(base_dir: Path) -> Iterator[MariaDB]:
    running = create(base_dir / "shared")
    yield running
    running.remove()


def tenant(server: MariaDB, statement: str, *, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
    """`statement` run by the tenant over loopback TCP with its password (a test may put it on a command line)."""
    return subprocess.run(
        [
            "mariadb",
            "--no-defaults",
            "--protocol=TCP",
            "--host=127.0.0.1",
            f"--port={server.port}",
            f"--user={TENANT}",
            f"--password={password}",
            "--batch",
            "--skip-column-names",
            "--database=defaultdb",
            "--execute",
            statement,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_tenant_owns_defaultdb_and_its_own_databases(server: MariaDB) -> None:
    made = tenant(server, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2); SELECT COUNT(*) FROM t")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "2"
    own = tenant(server, f"CREATE DATABASE {TENANT}_reports; CREATE TABLE {TENANT}_reports.r (x INT)")
    assert own.returncode == 0, own.stderr
    # `_` is no wildcard in the granted prefix: app_ownerXreports is not the tenant's.
    for name in ("other", "app_ownerXreports", "mysql_copy"):
        refused = tenant(server, f"CREATE DATABASE {name}")
        assert refused.returncode != 0 and "denied" in refused.stderr, (name, refused.stdout)


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT 1 INTO OUTFILE '/tmp/dbaas-outfile-test'",
        "GRANT SELECT ON defaultdb.* TO 'someone'@'127.0.0.1'",
        "CREATE USER 'someone'@'127.0.0.1'",
        "SHUTDOWN",
        "SELECT * FROM mysql.user",
        "SELECT * FROM mysql.global_priv",
        "SET GLOBAL max_connections = 1000",
        "PURGE BINARY LOGS BEFORE NOW()",
        "SHOW BINARY LOGS",
    ],
)
def test_tenant_has_no_administrative_privilege(server: MariaDB, statement: str) -> None:
    result = tenant(server, statement)
    assert result.returncode != 0 and "denied" in result.stderr.lower(), result.stderr
    assert server.is_running()


def test_tenant_reads_no_server_file_and_sees_no_other_session(server: MariaDB) -> None:
    # Without FILE and PROCESS these succeed but reveal nothing.
    result = tenant(
        server,
        "SELECT LOAD_FILE('/etc/passwd') IS NULL;"
        " SELECT COUNT(*) FROM information_schema.processlist WHERE user <> SUBSTRING_INDEX(CURRENT_USER(), '@', 1)",
    )
    assert result.returncode == 0 and result.stdout.split() == ["1", "0"], result.stderr


def test_tenant_needs_its_password_and_loopback_only(server: MariaDB) -> None:
    assert tenant(server, "SELECT 1", password="wrong").returncode != 0
    assert (
        server.sql("SELECT @@bind_address, @@skip_name_resolve, @@log_bin, @@binlog_format") == "127.0.0.1\t1\t1\tROW"
    )
    assert (server.socket_path.parent.stat().st_mode & 0o777) == 0o700
    assert server.sql("SELECT @@gtid_strict_mode, @@log_slave_updates, @@binlog_expire_logs_seconds") == "1\t1\t0"


def test_ensure_owner_changes_the_password_which_no_binary_log_holds(server: MariaDB) -> None:
    changed = "n3w-" + secrets.token_urlsafe(12)
    server.ensure_owner(username=TENANT, password=changed)
    try:
        assert tenant(server, "SELECT 1", password=changed).stdout.strip() == "1"
        assert tenant(server, "SELECT 1").returncode != 0
    finally:
        server.ensure_owner(username=TENANT, password=PASSWORD)
    assert tenant(server, "SELECT 1").stdout.strip() == "1"
    server.flush_binary_logs()
    logs = [str(server.data_dir / item.name) for item in server.binlog_files()]
    decoded = subprocess.run(["mariadb-binlog", "--no-defaults", *logs], capture_output=True, text=True, check=True)
    assert "ALTER USER" in decoded.stdout
    assert changed not in decoded.stdout and PASSWORD not in decoded.stdout


def test_uri_names_user_password_and_defaultdb() -> None:
    uri = service_uri(username=TENANT, password="p@ss/word", host="127.0.0.1", port=3307)
    assert uri == f"mysql://{TENANT}:p%40ss%2Fword@127.0.0.1:3307/defaultdb"


def test_binary_logs_flush_and_gtid(server: MariaDB) -> None:
    before = server.binlog_files()
    assert tenant(server, "CREATE TABLE IF NOT EXISTS g (x INT); INSERT INTO g VALUES (1)").returncode == 0
    gtid = server.current_gtid()
    assert gtid.startswith(f"0-{server.port}-")
    server.flush_binary_logs()
    after = server.binlog_files()
    assert len(after) == len(before) + 1
    assert after[-1].name > before[-1].name


def test_a_new_driver_finds_the_running_server_and_stops_it(base_dir: Path) -> None:
    first = create(base_dir / "restarted")
    again = MariaDB(first.home, port=first.port)
    assert again.status() == "running" and again.pid() == first.pid()
    again.stop()
    assert first.status() == "stopped"
    first.start()
    assert first.sql("SELECT 1") == "1"
    first.stop()  # at once after start: a server stopped while it still starts up hangs there
    first.start()
    first.stop()
    assert first.status() == "stopped"
    first.start()
    first.remove()
    assert first.status() == "missing" and not first.home.exists()
    assert not first.socket_path.parent.exists()


def test_failed_start_reports_the_log_tail(base_dir: Path) -> None:
    port = free_loopback_port()
    broken = MariaDB(base_dir / "broken", port=port)
    broken.install(username=TENANT, password=PASSWORD)
    broken.configure(plan=PLANS["hobbyist"], port=port, extra={"no_such_option": "1"})
    with pytest.raises(MariaDBError, match="no_such_option"):
        broken.start(timeout=30)
    assert not broken.is_running()
    broken.remove()


def test_bad_input_is_refused_with_its_name(base_dir: Path) -> None:
    server = MariaDB(base_dir / "never", port=free_loopback_port())
    with pytest.raises(MariaDBError, match="username"):
        server.install(username="root", password=PASSWORD)
    with pytest.raises(MariaDBError, match="password"):
        server.install(username=TENANT, password="two\nlines")
    with pytest.raises(MariaDBError, match="plan 'nope'"):
        server.configure(plan=dataclasses.replace(PLANS["hobbyist"], name="nope"), port=1)


def test_remove_keeps_what_we_did_not_make(base_dir: Path) -> None:
    foreign = base_dir / "foreign"
    (foreign / "data").mkdir(parents=True)
    with pytest.raises(MariaDBError, match="no mark"):
        MariaDB(foreign, port=free_loopback_port()).remove()
    assert foreign.exists() and not marks.is_marked(foreign)


def test_check_tables_finds_a_damaged_table(base_dir: Path) -> None:
    server = create(base_dir / "damaged")
    try:
        server.sql("CREATE TABLE defaultdb.notes (id INT PRIMARY KEY, v TEXT) ENGINE=Aria")
        server.sql("INSERT INTO defaultdb.notes SELECT seq, REPEAT('x', 500) FROM seq_1_to_200", database="defaultdb")
        server.check_tables()
        server.stop()
        data = server.data_dir / "defaultdb" / "notes.MAD"
        with data.open("r+b") as handle:
            handle.truncate(data.stat().st_size // 2)
        server.start()
        with pytest.raises(MariaDBError, match=r"defaultdb\.notes"):
            server.check_tables()
    finally:
        server.remove()
