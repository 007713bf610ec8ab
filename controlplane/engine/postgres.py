"""The PostgreSQL driver: one data directory, its server process and `postmaster.pid`.

`Postgres` drives initdb and pg_ctl as an unprivileged OS account (see os_user.py). Its files in the data
directory, all written by us:

- `dbaas.conf`: our settings (listen address, port, socket directory, logging, the plan, extras), included
  from the end of `postgresql.conf`, rewritten whole by `configure()`;
- `pg_hba.conf` / `pg_ident.conf`: password (SCRAM) logins over loopback TCP only, plus peer logins on the
  private unix socket for the OS account (mapped to the superuser: pgBackRest and administration);
- `log/server.log`: the server's stderr (pg_ctl -l), whose tail explains a failed start.

The server is detached (its own session, pg_ctl forks it), so it outlives the control plane; a driver
built later for the same directory finds it again through `postmaster.pid`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from controlplane.engine import marks
from controlplane.engine.os_user import Account, AccountError, CommandError, read_file, resolve_account, tail
from controlplane.engine.plans import Plan, plan_settings
from controlplane.engine.postmaster import is_postgres, read_pid, wait_for_orphans

logger = logging.getLogger(__name__)

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
CONF_NAME = "dbaas.conf"
LOG_PATH = Path("log") / "server.log"
# Unix socket directories live under /tmp, not in the data directory: a socket path is limited to 107
# bytes and data directories can be deep. The port names the directory, since it is unique among the
# servers running on this machine anyway (and the socket file is named after it too).
SOCKET_ROOT = Path("/tmp")
STOP_MODES = ("smart", "fast", "immediate")
_INITDB_TIMEOUT = 300.0
_AMCHECK_TIMEOUT = 24 * 3600.0  # bounded by the data, not by us
# The pg_ident.conf map of the peer login on the private socket: the account logs in as the superuser.
_IDENT_MAP = "dbaas"
_LOG_TAIL_LINES = 20
# The tenant owns the `postgres` database and may set its search_path and create functions named like the
# catalog's (`public.pg_switch_wal`): our superuser's sessions resolve names in pg_catalog first, whatever the
# database's settings say (a command-line option wins over them).
_TRUSTED_SEARCH_PATH = {"PGOPTIONS": "-c search_path=pg_catalog,pg_temp"}
_CONF_KEY = re.compile(r"^[a-z_][a-z0-9_.]*$")
# Plain identifiers only: the name goes unquoted into pg_ident.conf and SQL.
_USERNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# One lock per data directory, shared by every driver of it in this process: starting, stopping and
# moving one cluster from two threads at once would race on postmaster.pid.
_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


class PostgresError(Exception):
    """A PostgreSQL operation failed; the message says which, on which directory, and why."""


def _lock_for(data_dir: Path) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(os.path.realpath(data_dir), threading.RLock())


def _quote(value: str) -> str:
    """A postgresql.conf string literal."""
    if "\n" in value or "\r" in value or "\0" in value:
        raise PostgresError(f"setting value {value!r} contains a line break or NUL")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class Postgres:
    """A PostgreSQL 15 cluster in `data_dir`, served on 127.0.0.1:`port` by `os_user`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        bin_dir: Path = DEFAULT_BIN_DIR,
        os_user: str | None = "postgres",
    ) -> None:
        self._data_dir = Path(data_dir).absolute()
        self._port = port
        self._bin_dir = Path(bin_dir)
        self._os_user = os_user
        try:
            self._account = resolve_account(os_user)
        except AccountError as exc:
            raise PostgresError(str(exc)) from None
        self._lock = _lock_for(self._data_dir)

    def __repr__(self) -> str:
        return f"Postgres({str(self._data_dir)!r}, port={self._port}, user={self._account.name!r})"

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (absolute)."""
        return self._data_dir

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1 (the last one given to `configure`)."""
        return self._port

    @property
    def account(self) -> Account:
        """The OS account that owns the data directory and runs the server."""
        return self._account

    @property
    def socket_dir(self) -> Path:
        """The private unix socket directory (pgBackRest's `pg1-socket-path`; peer login as the account)."""
        return SOCKET_ROOT / f"dbaas-pg-{self._port}"

    @property
    def log_file(self) -> Path:
        """The server log."""
        return self._data_dir / LOG_PATH

    # -- initdb ------------------------------------------------------------------------------------

    def initdb(self, *, username: str, password: str, cancel: threading.Event | None = None) -> None:
        """Create the cluster with superuser `username`/`password`; keep a complete one untouched.

        The cluster is built in a sibling staging directory and renamed into place only when it is
        finished, so `data_dir` holds either nothing or a whole cluster; anything else found there (left
        by a crash of an older layout or by hand) is wiped first. The password reaches initdb through a
        0600 file of the account that is deleted as soon as initdb has read it.
        """
        if not _USERNAME.match(username):
            raise PostgresError(f"initdb {self._data_dir}: username {username!r} must match {_USERNAME.pattern}")
        if not password or any(c in password for c in "\n\r\0"):
            raise PostgresError(f"initdb {self._data_dir}: the password is empty or has a line break or NUL")
        with self._lock:
            if self._is_cluster(self._data_dir):
                logger.debug("initdb %s: cluster already present", self._data_dir)
                return
            started = time.monotonic()
            staging = self._staging_dir()
            try:
                if os.path.lexists(self._data_dir):
                    logger.warning("initdb %s: wiping an incomplete cluster", self._data_dir)
                    marks.remove_marked(self._data_dir)
                self._account.make_reachable_parent(self._data_dir)
                marks.remove_marked(staging)
                marks.mark(staging)
                marks.mark(self._data_dir)
                self._account.private_dir(staging)
                self._run_initdb(staging, username, password, cancel)
                self._write_access_files(staging, username)
                conf = staging / "postgresql.conf"
                include = f"\n# dbaas: our settings, written by configure()\ninclude_if_exists = '{CONF_NAME}'\n"
                self._account.write_file(conf, (read_file(conf) + include).encode())
                self._account.private_dir(staging / LOG_PATH.parent)
                staging.rename(self._data_dir)
                fsync_dir(self._data_dir.parent)
            except (OSError, AccountError, marks.UnmarkedError) as exc:
                raise PostgresError(f"initdb {self._data_dir} failed: {exc}") from exc
            finally:
                with contextlib.suppress(OSError, marks.UnmarkedError):
                    marks.remove_marked(staging)
            logger.info("initdb %s: done in %.2f s", self._data_dir, time.monotonic() - started)

    def _run_initdb(self, target: Path, username: str, password: str, cancel: threading.Event | None) -> None:
        # The password file sits beside the staging directory, which the account can reach; /tmp of a
        # root process may not be. mkstemp makes it 0600 before anything is written into it.
        fd, name = tempfile.mkstemp(prefix=".dbaas-pw-", dir=target.parent)
        pwfile = Path(name)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
            self._account.own(pwfile)
            self._run(
                "initdb",
                [
                    str(self._bin_dir / "initdb"),
                    f"--pgdata={target}",
                    f"--username={username}",
                    f"--pwfile={pwfile}",
                    "--data-checksums",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--auth-local=peer",
                    "--auth-host=scram-sha-256",
                ],
                timeout=_INITDB_TIMEOUT,
                cancel=cancel,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def map_peer_login(self, role: str) -> None:
        """Make the account's peer login on the private socket log in as `role` from now on (the server
        runs; it reloads its configuration)."""
        if not _USERNAME.match(role):
            raise PostgresError(f"{self._data_dir}: role {role!r} must match {_USERNAME.pattern}")
        current = self.peer_role()
        try:
            self._write_access_files(self._data_dir, role)
        except (OSError, AccountError) as exc:
            raise PostgresError(f"rewriting the access files of {self._data_dir} failed: {exc}") from exc
        self.psql("SELECT pg_reload_conf()", user=current)

    def _write_access_files(self, target: Path, username: str) -> None:
        # Peer logins on the private socket map the OS account to the superuser; everything else is a
        # SCRAM password login over loopback (replication too, for pg_basebackup and standbys).
        hba = "\n".join(
            [
                "# Written by dbaas (controlplane/engine/postgres.py).",
                "# TYPE  DATABASE     USER  ADDRESS        METHOD",
                f"local   all          all                  peer map={_IDENT_MAP}",
                "host    all          all   127.0.0.1/32   scram-sha-256",
                "host    all          all   ::1/128        scram-sha-256",
                "host    replication  all   127.0.0.1/32   scram-sha-256",
                "host    replication  all   ::1/128        scram-sha-256",
                "",
            ]
        )
        ident = (
            "# Written by dbaas.\n# MAPNAME  SYSTEM-USERNAME  PG-USERNAME\n"
            f"{_IDENT_MAP}  {self._account.name}  {username}\n"
        )
        self._write_file(target / "pg_hba.conf", hba)
        self._write_file(target / "pg_ident.conf", ident)

    # -- configure ---------------------------------------------------------------------------------

    def configure(self, *, plan: Plan, port: int, extra: Mapping[str, str] | None = None) -> None:
        """Write our settings (address, `port`, socket, logging, `plan`, then `extra`) to dbaas.conf.

        They take effect at the next start or restart; `extra` wins over the plan. The driver's `port`
        becomes `port`.
        """
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(port),
            "unix_socket_directories": str(SOCKET_ROOT / f"dbaas-pg-{port}"),
            "unix_socket_permissions": "0700",
            "password_encryption": "scram-sha-256",
            # stderr goes to log/server.log through pg_ctl -l: no collector process to run.
            "logging_collector": "off",
            "log_destination": "stderr",
            "log_line_prefix": "%m [%p] ",
            **plan_settings(plan),
            **dict(extra or {}),
        }
        bad = [key for key in settings if not _CONF_KEY.match(key)]
        if bad:
            raise PostgresError(f"configure {self._data_dir}: invalid setting names {bad}")
        lines = [f"# Written by dbaas for plan {plan.name}; rewritten by every configure()."]
        lines += [f"{key} = {_quote(value)}" for key, value in settings.items()]
        with self._lock:
            if not self._is_cluster(self._data_dir):
                raise PostgresError(f"configure {self._data_dir}: there is no cluster (run initdb first)")
            try:
                self._write_file(self._data_dir / CONF_NAME, "\n".join(lines) + "\n")
            except OSError as exc:
                raise PostgresError(f"configure {self._data_dir} failed: {exc}") from exc
            self._port = port

    # -- start / stop ------------------------------------------------------------------------------

    def start(self, *, timeout: float = 60, cancel: threading.Event | None = None) -> None:
        """Start the server and wait until it accepts connections; do nothing when it runs already.

        A stale `postmaster.pid` (machine crash, server killed) is cleared first. On failure the error
        carries the end of the server log. A cancelled start stops what was started.
        """
        with self._lock:
            if not self._is_cluster(self._data_dir):
                raise PostgresError(f"start {self._data_dir}: there is no cluster (run initdb first)")
            self._port = self._configured_port()
            if self.is_running():
                return
            started = time.monotonic()
            try:
                self._clear_stale_locks()
                self._account.private_dir(self.socket_dir)
                self._account.private_dir(self.log_file.parent)
                log_offset = self.log_file.lstat().st_size if self.log_file.exists() else 0
            except (OSError, AccountError) as exc:
                raise PostgresError(f"start {self._data_dir} failed: {exc}") from exc
            argv = [
                str(self._bin_dir / "pg_ctl"),
                "start",
                "--wait",
                f"--timeout={max(1, math.ceil(timeout))}",
                f"--pgdata={self._data_dir}",
                f"--log={self.log_file}",
            ]
            try:
                # Our deadline is later than pg_ctl's so that pg_ctl reports its own timeout.
                self._account.run(argv, timeout=timeout + 10, cancel=cancel)
            except CommandError as exc:
                tail = self._log_tail(log_offset)
                if exc.reason == "cancelled":
                    self._stop_cancelled_start()
                raise PostgresError(
                    f"starting PostgreSQL in {self._data_dir} failed: {exc}\n--- end of {self.log_file} ---\n{tail}"
                ) from exc
            logger.info(
                "start %s: running on port %d in %.2f s", self._data_dir, self._port, time.monotonic() - started
            )

    def stop(self, *, mode: str = "fast", timeout: float = 60, cancel: threading.Event | None = None) -> None:
        """Stop the server (`mode`: smart, fast or immediate) and wait for it; do nothing when stopped."""
        if mode not in STOP_MODES:
            raise PostgresError(f"stop {self._data_dir}: mode must be one of {STOP_MODES}, not {mode!r}")
        with self._lock:
            if not self.is_running():
                return
            self._pg_ctl_stop(mode, timeout=timeout, cancel=cancel)
            logger.info("stop %s: stopped (%s)", self._data_dir, mode)

    def restart(self, *, timeout: float = 60, cancel: threading.Event | None = None) -> None:
        """Stop (fast) and start again, so that every setting of dbaas.conf applies."""
        with self._lock:
            self.stop(timeout=timeout, cancel=cancel)
            self.start(timeout=timeout, cancel=cancel)

    def _stop_cancelled_start(self) -> None:
        """Stop the server a cancelled pg_ctl had already forked, once it shows up in postmaster.pid.

        pg_ctl forks the server at once and the server writes its pid within milliseconds; a server
        that has not done so in two seconds failed to start by itself.
        """
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            if self.is_running():
                self._pg_ctl_stop("immediate", timeout=30, cancel=None)
                return
            time.sleep(0.02)

    def _pg_ctl_stop(self, mode: str, *, timeout: float, cancel: threading.Event | None) -> None:
        argv = [
            str(self._bin_dir / "pg_ctl"),
            "stop",
            "--wait",
            f"--timeout={max(1, math.ceil(timeout))}",
            f"--pgdata={self._data_dir}",
            f"--mode={mode}",
        ]
        try:
            self._account.run(argv, timeout=timeout + 10, cancel=cancel)
        except CommandError as exc:
            if not self.is_running():  # it went away by itself meanwhile
                return
            raise PostgresError(f"stopping PostgreSQL in {self._data_dir} failed: {exc}") from exc

    # -- state -------------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The postmaster's process id, or None when no server runs for this data directory."""
        pid = read_pid(self._data_dir / "postmaster.pid")
        if pid is not None and is_postgres(pid, self._data_dir):
            return pid
        return None

    def is_running(self) -> bool:
        """Whether a live postmaster serves this data directory (a stale postmaster.pid does not count)."""
        return self.pid() is not None

    def wait_until_promoted(self, *, user: str, timeout: float = 600, cancel: threading.Event | None = None) -> None:
        """Wait until a restored server has replayed its WAL up to the target and promoted itself (writable)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.psql("SELECT pg_is_in_recovery()", user=user) == "f":
                    return
            except PostgresError as err:
                logger.debug("%s not answering yet: %s", self._data_dir, err)
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                raise PostgresError(f"{self._data_dir} did not finish recovery within {timeout:.0f} s")
            time.sleep(0.1)

    def psql(self, sql: str, *, user: str, database: str = "postgres", timeout: float = 60) -> str:
        """Run SQL over the private socket as `user` (the peer login maps our account to it); the output,
        unaligned and without headers."""
        argv = [
            str(self._bin_dir / "psql"),
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            *self._login(user),
            "-d",
            database,
            # The statement on standard input, not on the command line, where every local user reads it.
            "-f",
            "-",
        ]
        try:
            return self._account.run(argv, timeout=timeout, stdin=sql, env=_TRUSTED_SEARCH_PATH).stdout.strip()
        except CommandError as exc:
            raise PostgresError(f"psql on {self._data_dir} failed: {exc}") from exc

    def _login(self, user: str) -> list[str]:
        """The client options of a peer login as `user` over the private socket."""
        return ["-h", str(self.socket_dir), "-p", str(self._port), "-U", user]

    def peer_role(self) -> str:
        """The role the account logs in as over the private socket: the superuser that initdb made.

        Read from pg_ident.conf, so it also names the source's superuser in a restored copy.
        """
        try:
            text = read_file(self._data_dir / "pg_ident.conf")
        except OSError as exc:
            raise PostgresError(f"reading pg_ident.conf of {self._data_dir} failed: {exc}") from exc
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) == 3 and fields[:2] == [_IDENT_MAP, self._account.name]:
                return fields[2]
        raise PostgresError(f"pg_ident.conf of {self._data_dir} maps {self._account.name} to no role")

    def amcheck(self, *, user: str, timeout: float = _AMCHECK_TIMEOUT, cancel: threading.Event | None = None) -> None:
        """Check the tables and B-tree indexes of every database that accepts connections (pg_amcheck).

        The amcheck extension is installed where it is missing, which changes the databases: only for
        throwaway copies such as a restore test's. Raises PostgresError with pg_amcheck's report when it
        finds corruption or cannot connect to a database.
        """
        argv = [
            str(self._bin_dir / "pg_amcheck"),
            "--all",
            "--install-missing",
            "--no-password",
            *self._login(user),
        ]
        self._run("pg_amcheck", argv, timeout=timeout, cancel=cancel)

    def status(self) -> str:
        """`"running"`, `"stopped"`, or `"missing"` when there is no cluster."""
        if not self._is_cluster(self._data_dir):
            return "missing"
        return "running" if self.is_running() else "stopped"

    # -- remove / move -----------------------------------------------------------------------------

    def remove(self) -> None:
        """Stop the server if it runs, then delete the data directory and the socket directory."""
        with self._lock:
            self.stop()
            try:
                marks.remove_marked(self._data_dir)
                marks.remove_marked(self._staging_dir())
            except (OSError, marks.UnmarkedError) as exc:
                raise PostgresError(f"removing {self._data_dir} failed: {exc}") from exc
            try:
                self.socket_dir.rmdir()  # only when empty: another cluster may use the port now
            except OSError:
                pass
            logger.info("remove %s: deleted", self._data_dir)

    def move_to(self, new_data_dir: Path) -> Postgres:
        """Stop the server if it runs, move the data directory (across filesystems too), return its driver.

        The returned driver is for the new place and not started; this one should no longer be used.
        """
        target = Path(new_data_dir).absolute()
        with self._lock:
            if not self._is_cluster(self._data_dir):
                raise PostgresError(f"move {self._data_dir}: there is no cluster")
            if target.exists():
                raise PostgresError(f"move {self._data_dir} to {target}: the target exists")
            self.stop()
            try:
                move_marked(self._account, self._data_dir, target)
            except (OSError, AccountError) as exc:
                raise PostgresError(f"moving {self._data_dir} to {target} failed: {exc}") from exc
            logger.info("move %s: now at %s", self._data_dir, target)
        return Postgres(target, port=self._port, bin_dir=self._bin_dir, os_user=self._os_user)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _is_cluster(directory: Path) -> bool:
        return (directory / "PG_VERSION").is_file() and (directory / "global" / "pg_control").is_file()

    def _configured_port(self) -> int:
        """The port in dbaas.conf: the server listens there whatever this driver was built with."""
        try:
            text = read_file(self._data_dir / CONF_NAME)
        except FileNotFoundError:
            raise PostgresError(
                f"start {self._data_dir}: the cluster is not configured (run configure first)"
            ) from None
        match = re.search(r"^port = '(\d+)'$", text, re.MULTILINE)
        if match is None:
            raise PostgresError(f"start {self._data_dir}: {CONF_NAME} names no port")
        return int(match.group(1))

    def _staging_dir(self) -> Path:
        return self._data_dir.with_name(f".{self._data_dir.name}.initdb")

    def _run(self, what: str, argv: list[str], *, timeout: float, cancel: threading.Event | None) -> None:
        try:
            self._account.run(argv, timeout=timeout, cancel=cancel)
        except CommandError as exc:
            raise PostgresError(f"{what} {self._data_dir} failed: {exc}") from exc

    def _write_file(self, path: Path, text: str) -> None:
        """Replace `path` atomically with `text`, as a 0600 file of the account; planted links are not followed."""
        self._account.write_file(path, text.encode())

    def _clear_stale_locks(self) -> None:
        """Delete lock files left by a server that died (kill -9, machine crash).

        The server itself only trusts a lock whose process is gone, but after a reboot that pid may
        belong to another process of the same account (say, another cluster's backend), and then it
        refuses to start. We know better: the pid is stale unless it is a postgres in this directory.
        """
        pidfile = self._data_dir / "postmaster.pid"
        old = read_pid(pidfile)
        if old is None and not pidfile.exists():
            return
        logger.warning("start %s: clearing a stale postmaster.pid (pid %s)", self._data_dir, old)
        # Backends of a killed postmaster exit by themselves within moments, and a new server cannot
        # start while they still hold the old shared memory: wait for them.
        wait_for_orphans(self._data_dir, timeout=10)
        pidfile.unlink(missing_ok=True)
        socket_lock = self.socket_dir / f".s.PGSQL.{self._port}.lock"
        lock_pid = read_pid(socket_lock)
        if socket_lock.exists() and (lock_pid is None or not is_postgres(lock_pid, None)):
            socket_lock.unlink(missing_ok=True)
            (self.socket_dir / f".s.PGSQL.{self._port}").unlink(missing_ok=True)

    def _log_tail(self, offset: int) -> str:
        """The last lines the server logged since `offset` (the data directory is the account's: see `tail`)."""
        try:
            return tail(self.log_file, offset, lines=_LOG_TAIL_LINES) or "(the server logged nothing)"
        except OSError as exc:
            return f"(no server log: {exc})"


def move_marked(account: Account, source: Path, target: Path) -> None:
    """Move the account's marked tree `source` to `target` (across filesystems too), the mark with it."""
    account.make_reachable_parent(target)
    marks.mark(target)
    shutil.move(source, target)
    marks.mark_path(source).unlink(missing_ok=True)
    # A copy between filesystems is made by us: give the files back to the account.
    if target.stat().st_uid != account.uid:
        account.own_tree(target)
    fsync_dir(target.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
