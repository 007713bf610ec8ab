"""The MariaDB 10.11 driver: one service home, its server process and its option file.

`MariaDB` drives mariadb-install-db and mariadbd as an unprivileged OS account (`mysql`; see os_user.py).
A service's home, marked (marks.py) so that only homes we made are ever removed, holds:

- `data/`: the server's datadir, with the binary logs (`binlog.NNNNNN`, row format, GTIDs) that
  binlog_archive.py copies to the repository and then purges: the server never expires them itself;
- `dbaas.cnf`: our option file (loopback address, port, private socket, binary logs, the plan, extras),
  rewritten whole by `configure()` and the server's only one (`--defaults-file`);
- `server.log`: the server's error log, whose tail explains a failed start.

The server is detached (started in the background by a shell of its own session, not a child of ours), so
it outlives the control plane; a driver built later for the same home finds it again in /proc by its
option file. The administrator is the account's
own database user (`<account>@localhost`, unix_socket authentication over the private socket); the tenant
is a password user on loopback TCP with every privilege on `defaultdb` and on the databases named
`<username>_…` it creates, and nothing global (no FILE, PROCESS, SUPER, SHUTDOWN, GRANT OPTION…).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import signal
import socket
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controlplane.engine import marks
from controlplane.engine.os_user import Account, AccountError, CommandError, read_file, resolve_account, tail
from controlplane.engine.plans import Plan
from controlplane.engine.postgres import fsync_dir, move_marked

logger = logging.getLogger(__name__)

# Debian's places: the server in /usr/sbin, which the accounts' PATH (os_user.py) leaves out.
SERVER_PROGRAM = "/usr/sbin/mariadbd"
CONF_NAME = "dbaas.cnf"
DATA_NAME = "data"
LOG_NAME = "server.log"
BINLOG_BASENAME = "binlog"
DEFAULT_DATABASE = "defaultdb"
# Sockets live under /tmp (a socket path is limited to 107 bytes), in a private directory named by the port.
SOCKET_ROOT = Path("/tmp")
# The siblings of a home that jobs on it fill (a crash may leave them): remove() takes them too.
SCRATCH_PURPOSES = ("build", "restore")
_INSTALL_TIMEOUT = 300.0
_SQL_TIMEOUT = 60.0
_CHECK_TIMEOUT = 24 * 3600.0  # bounded by the data, not by us
_LOG_TAIL_LINES = 20
_USERNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_RESERVED_USERS = frozenset({"root", "mysql", "mariadb.sys", "PUBLIC"})
_OPTION_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# Values go unquoted into the option file: nothing that could end the line or start a comment there.
_OPTION_VALUE = re.compile(r"^[A-Za-z0-9_./:@+,=-]*$")

# InnoDB and connection settings of each plan (engine.plans names the plans; these are MariaDB's sizes:
# the buffer pool is InnoDB's cache of pages, about half of the class's memory).
PLAN_OPTIONS: dict[str, dict[str, str]] = {
    "hobbyist": {
        "innodb_buffer_pool_size": "32M",
        "innodb_log_file_size": "64M",
        "max_connections": "25",
        "tmp_table_size": "16M",
        "max_heap_table_size": "16M",
    },
    "startup-4": {
        "innodb_buffer_pool_size": "2G",
        "innodb_log_file_size": "512M",
        "max_connections": "100",
        "tmp_table_size": "32M",
        "max_heap_table_size": "32M",
    },
    "business-8": {
        "innodb_buffer_pool_size": "5G",
        "innodb_log_file_size": "1G",
        "max_connections": "200",
        "tmp_table_size": "64M",
        "max_heap_table_size": "64M",
    },
}

# One lock per home, shared by every driver of it in this process (start/stop/remove from two threads).
_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


class MariaDBError(Exception):
    """A MariaDB operation failed; the message says which, on which home, and why."""


@dataclass(frozen=True)
class BinlogFile:
    """One binary log file of a running server (SHOW BINARY LOGS)."""

    name: str
    size: int


def plan_options(plan: Plan) -> dict[str, str]:
    """The option-file settings of `plan`; MariaDBError when MariaDB has no sizes for it."""
    try:
        return dict(PLAN_OPTIONS[plan.name])
    except KeyError:
        raise MariaDBError(f"plan {plan.name!r} has no MariaDB settings (known: {sorted(PLAN_OPTIONS)})") from None


def service_uri(*, username: str, password: str, host: str, port: int) -> str:
    """The service's `uri`: mysql://user:password@host:port/defaultdb, user and password percent-encoded."""
    user = urllib.parse.quote(username, safe="")
    secret = urllib.parse.quote(password, safe="")
    return f"mysql://{user}:{secret}@{host}:{port}/{DEFAULT_DATABASE}"


def native_password_hash(password: str) -> str:
    """MariaDB's mysql_native_password hash of `password` (`*` and the hex of SHA1(SHA1(password)))."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def sql_string(value: str) -> str:
    """A MariaDB string literal (for statements sent on standard input, never on a command line)."""
    if "\0" in value:
        raise MariaDBError("a SQL string may not contain NUL")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _lock_for(home: Path) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(os.path.realpath(home), threading.RLock())


class MariaDB:
    """A MariaDB 10.11 server whose files are in `home`, served on 127.0.0.1:`port` by `os_user`."""

    def __init__(self, home: Path, *, port: int, os_user: str | None = "mysql") -> None:
        self._home = Path(home).absolute()
        self._port = port
        self._os_user = os_user
        try:
            self._account = resolve_account(os_user)
        except AccountError as exc:
            raise MariaDBError(str(exc)) from None
        self._lock = _lock_for(self._home)

    def __repr__(self) -> str:
        return f"MariaDB({str(self._home)!r}, port={self._port}, user={self._account.name!r})"

    @property
    def home(self) -> Path:
        return self._home

    @property
    def data_dir(self) -> Path:
        """The server's datadir (binary logs included)."""
        return self._home / DATA_NAME

    @property
    def port(self) -> int:
        return self._port

    @property
    def account(self) -> Account:
        return self._account

    @property
    def admin_user(self) -> str:
        """The administrator: the account's own database user, logged in by unix_socket on the private socket."""
        return self._account.name

    @property
    def option_file(self) -> Path:
        return self._home / CONF_NAME

    @property
    def log_file(self) -> Path:
        return self._home / LOG_NAME

    @property
    def socket_path(self) -> Path:
        return SOCKET_ROOT / f"dbaas-my-{self._port}" / "mysqld.sock"

    # -- install -----------------------------------------------------------------------------------

    def install(self, *, username: str, password: str, cancel: threading.Event | None = None) -> None:
        """Create the server's files with tenant `username`/`password`; keep a complete home untouched.

        mariadb-install-db fills a staging home that is renamed into place when finished, so `home` holds
        nothing or a whole server. The tenant is made by a bootstrap server reading the statements on its
        standard input (see `ensure_owner`); grant tables are off in bootstrap mode until FLUSH PRIVILEGES.
        """
        statements = "FLUSH PRIVILEGES;\n" + self._owner_statements("install", username, password)

        def fill(data_dir: Path) -> None:
            self._run(
                "mariadb-install-db",
                [
                    "mariadb-install-db",
                    "--no-defaults",
                    f"--datadir={data_dir}",
                    "--auth-root-authentication-method=socket",
                    f"--auth-root-socket-user={self.admin_user}",
                    "--skip-test-db",
                ],
                timeout=_INSTALL_TIMEOUT,
                cancel=cancel,
            )
            self._run(
                "creating the tenant of",
                [SERVER_PROGRAM, "--no-defaults", f"--datadir={data_dir}", "--bootstrap", "--skip-log-bin"],
                timeout=_INSTALL_TIMEOUT,
                cancel=cancel,
                stdin=statements,
            )

        self.build(fill)

    def build(self, fill: Callable[[Path], None]) -> None:
        """Make the home whole from `fill`, which populates an empty datadir of the account that it is given
        (install-db, or a restore's move-back); nothing happens when the home is complete already."""
        with self._lock:
            if self._is_installed(self._home):
                logger.debug("build %s: home already present", self._home)
                return
            started = time.monotonic()
            staging = self.scratch_dir("build")
            try:
                if os.path.lexists(self._home):
                    logger.warning("build %s: wiping an incomplete home", self._home)
                    marks.remove_marked(self._home)
                self._account.make_reachable_parent(self._home)
                marks.remove_marked(staging)
                marks.mark(staging)
                marks.mark(self._home)
                self._account.private_dir(staging)
                self._account.private_dir(staging / DATA_NAME)
                fill(staging / DATA_NAME)
                staging.rename(self._home)
                fsync_dir(self._home.parent)
            except (OSError, AccountError, marks.UnmarkedError) as exc:
                raise MariaDBError(f"building {self._home} failed: {exc}") from exc
            finally:
                with contextlib.suppress(OSError, marks.UnmarkedError):
                    marks.remove_marked(staging)
            logger.info("build %s: done in %.2f s", self._home, time.monotonic() - started)

    def scratch_dir(self, purpose: str) -> Path:
        """A marked sibling of the home for a job on it (`build`, `restore`), removed with the home."""
        if purpose not in SCRATCH_PURPOSES:
            raise MariaDBError(f"{self._home}: no scratch directory for {purpose!r} (known: {SCRATCH_PURPOSES})")
        return self._home.with_name(f".{self._home.name}.{purpose}")

    # -- configure ---------------------------------------------------------------------------------

    def configure(self, *, plan: Plan, port: int, extra: Mapping[str, str] | None = None) -> None:
        """Write dbaas.cnf: address, `port`, socket, binary logs, `plan`, then `extra` (which wins).

        Takes effect at the next start. The server id is the port: unique among this host's servers.
        """
        options = {
            "datadir": str(self.data_dir),
            "bind-address": "127.0.0.1",
            "port": str(port),
            "socket": str(SOCKET_ROOT / f"dbaas-my-{port}" / "mysqld.sock"),
            "pid-file": str(self._home / "mariadbd.pid"),
            "log-error": str(self.log_file),
            "skip-name-resolve": "ON",
            "symbolic-links": "OFF",
            "character-set-server": "utf8mb4",
            "log-bin": str(self.data_dir / BINLOG_BASENAME),
            "log-bin-index": str(self.data_dir / f"{BINLOG_BASENAME}.index"),
            "binlog_format": "ROW",
            "gtid_strict_mode": "ON",
            "log_slave_updates": "ON",
            "server_id": str(port),
            "binlog_expire_logs_seconds": "0",  # binlog_archive.py purges what it archived
            "sync_binlog": "1",
            "innodb_flush_log_at_trx_commit": "1",
            **plan_options(plan),
            **dict(extra or {}),
        }
        bad = [key for key, value in options.items() if not _OPTION_NAME.match(key) or not _OPTION_VALUE.match(value)]
        if bad:
            raise MariaDBError(f"configure {self._home}: invalid option names or values for {bad}")
        lines = [f"# Written by dbaas for plan {plan.name}; rewritten by every configure().", "[mariadbd]"]
        lines += [f"{key} = {value}" for key, value in options.items()]
        with self._lock:
            if not self._is_installed(self._home):
                raise MariaDBError(f"configure {self._home}: there is no server (run install first)")
            try:
                self._account.write_file(self.option_file, ("\n".join(lines) + "\n").encode(), mode=0o600)
            except OSError as exc:
                raise MariaDBError(f"configure {self._home} failed: {exc}") from exc
            self._port = port

    # -- start / stop ------------------------------------------------------------------------------

    def start(self, *, timeout: float = 60, cancel: threading.Event | None = None) -> None:
        """Start the server detached and wait until it answers on its socket; nothing when it runs already.

        On failure the error carries the end of the server log; a failed or cancelled start stops what it started.
        """
        with self._lock:
            if not self._is_installed(self._home):
                raise MariaDBError(f"start {self._home}: there is no server (run install first)")
            self._port = self._configured_port()
            if self.is_running():
                return
            started = time.monotonic()
            try:
                self._account.private_dir(self.socket_path.parent)
                log_offset = self.log_file.lstat().st_size if self.log_file.exists() else 0
            except (OSError, AccountError) as exc:
                raise MariaDBError(f"start {self._home} failed: {exc}") from exc
            # The shell starts the server in the background and tells its pid: the server is then no child of
            # ours and outlives us (the shell's session is its own, see Account.run). Its output goes to the
            # error log, not to our pipes.
            launch = '"$0" --defaults-file="$1" </dev/null >/dev/null 2>&1 & echo $!'
            server_pid: int | None = None
            try:
                argv = ["/bin/sh", "-c", launch, SERVER_PROGRAM, str(self.option_file)]
                server_pid = int(self._account.run(argv, timeout=30).stdout.strip())
                self._wait_until_answering(server_pid, timeout, cancel)
            except (CommandError, MariaDBError, ValueError) as exc:
                if server_pid is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(server_pid, signal.SIGKILL)
                raise MariaDBError(
                    f"starting MariaDB in {self._home} failed: {exc}\n--- end of {self.log_file} ---\n"
                    f"{self._log_tail(log_offset)}"
                ) from exc
            logger.info("start %s: running on port %d in %.2f s", self._home, self._port, time.monotonic() - started)

    def _wait_until_answering(self, server_pid: int, timeout: float, cancel: threading.Event | None) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not _alive(server_pid):
                raise MariaDBError("the server exited")
            if self._greets():
                return
            if cancel is not None and cancel.is_set():
                raise MariaDBError("cancelled")
            if time.monotonic() > deadline:
                raise MariaDBError(f"the server did not answer within {timeout:g} s")
            time.sleep(0.02)

    def _greets(self) -> bool:
        """Whether the server sends its handshake on the socket: it accepts connections only once started
        (the socket listens earlier, and a server stopped before it is ready may hang in its startup)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(0.5)
            try:
                probe.connect(str(self.socket_path))
                return bool(probe.recv(4))
            except OSError:
                return False

    def stop(self, *, timeout: float = 60) -> None:
        """Shut the server down cleanly (SIGTERM) and wait for it; nothing when it is stopped."""
        with self._lock:
            if self.pid() is None:
                return
            self._kill(signal.SIGTERM)
            self._wait_for_exit(timeout=timeout)
            logger.info("stop %s: stopped", self._home)

    def _wait_for_exit(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pid() is not None:
            if time.monotonic() > deadline:
                raise MariaDBError(f"stopping MariaDB in {self._home}: still running after {timeout:g} s")
            time.sleep(0.02)

    def _kill(self, sig: signal.Signals) -> None:
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    # -- state -------------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The server's process id (found in /proc by its option file and owner), or None."""
        wanted = f"--defaults-file={self.option_file}".encode()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                if os.stat(f"/proc/{entry}").st_uid != self._account.uid:
                    continue
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if wanted in argv and _alive(int(entry)):
                return int(entry)
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def status(self) -> str:
        """`"running"`, `"stopped"`, or `"missing"` when there is no server."""
        if not self._is_installed(self._home):
            return "missing"
        return "running" if self.is_running() else "stopped"

    # -- SQL ---------------------------------------------------------------------------------------

    def sql(self, statement: str, *, database: str | None = None, timeout: float = _SQL_TIMEOUT) -> str:
        """Run `statement` as the administrator over the private socket; its rows, tab-separated, no header."""
        argv = [
            "mariadb",
            "--no-defaults",
            f"--socket={self.socket_path}",
            f"--user={self.admin_user}",
            "--batch",
            "--skip-column-names",
            "--raw",
        ]
        if database is not None:
            argv.append(f"--database={database}")
        try:
            # On standard input, not on the command line, where every local user reads it.
            return self._account.run(argv, timeout=timeout, stdin=statement).stdout.rstrip("\n")
        except CommandError as exc:
            raise MariaDBError(f"SQL on {self._home} failed: {exc}") from exc

    def ensure_owner(self, *, username: str, password: str) -> None:
        """Make the running server's tenant `username` with `password` and its privileges (a fork's tenant,
        a changed password); idempotent."""
        self.sql(self._owner_statements("ensure_owner", username, password))

    def _owner_statements(self, what: str, username: str, password: str) -> str:
        """The statements that make `defaultdb` and the tenant: every privilege on `defaultdb` and on the
        databases named `<username>_…`, nothing global. The password goes as its mysql_native_password
        hash, so the binary logs (and their archive) never hold it in clear."""
        if not _USERNAME.match(username) or username in _RESERVED_USERS or username == self.admin_user:
            raise MariaDBError(
                f"{what} {self._home}: username {username!r} must match {_USERNAME.pattern} "
                f"and be none of {sorted(_RESERVED_USERS | {self.admin_user})}"
            )
        if not password or any(c in password for c in "\n\r\0"):
            raise MariaDBError(f"{what} {self._home}: the password is empty or has a line break or NUL")
        account = f"{sql_string(username)}@'127.0.0.1'"
        hashed = sql_string(native_password_hash(password))
        # In a database-name pattern `_` is a wildcard: escaped, `<username>_%` means exactly that prefix.
        own_prefix = username.replace("_", "\\_") + "\\_%"
        return "\n".join(
            [
                f"CREATE DATABASE IF NOT EXISTS `{DEFAULT_DATABASE}`;",
                f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY PASSWORD {hashed};",
                f"ALTER USER {account} IDENTIFIED BY PASSWORD {hashed};",
                f"GRANT ALL PRIVILEGES ON `{DEFAULT_DATABASE}`.* TO {account};",
                f"GRANT ALL PRIVILEGES ON `{own_prefix}`.* TO {account};",
                "",
            ]
        )

    def check_tables(self, *, timeout: float = _CHECK_TIMEOUT, cancel: threading.Event | None = None) -> None:
        """CHECK TABLE on every table of every database (mariadb-check), as a restore test does; MariaDBError
        with the checker's report when a table is damaged."""
        argv = [
            "mariadb-check",
            "--no-defaults",
            f"--socket={self.socket_path}",
            f"--user={self.admin_user}",
            "--all-databases",
            "--silent",  # errors only
        ]
        try:
            report = self._account.run(argv, timeout=timeout, cancel=cancel).stdout
        except CommandError as exc:
            raise MariaDBError(f"checking the tables of {self._home} failed: {exc}") from exc
        if "error" in report.lower():
            raise MariaDBError(f"checking the tables of {self._home} found damage:\n{report.strip()[-2000:]}")

    def flush_binary_logs(self) -> None:
        """Close the current binary log and open the next (the closed one can then be archived)."""
        self.sql("FLUSH BINARY LOGS")

    def binlog_files(self) -> list[BinlogFile]:
        """The server's binary logs, oldest first; the last one is the one being written."""
        rows = [line.split("\t") for line in self.sql("SHOW BINARY LOGS").splitlines() if line]
        return [BinlogFile(name=row[0], size=int(row[1])) for row in rows]

    def current_gtid(self) -> str:
        """The GTID position of the last transaction written to the binary log (`@@gtid_binlog_pos`)."""
        return self.sql("SELECT @@gtid_binlog_pos")

    # -- move --------------------------------------------------------------------------------------

    def move_to(self, new_home: Path) -> MariaDB:
        """Stop the server if it runs, move the home (across filesystems too), return its driver: for the new
        place, not started nor configured (configure names the new paths); this one should no longer be used.

        The binary log index names each log by its absolute path (log-bin is absolute): it is rewritten to
        name the new datadir, or the server would not find its logs.
        """
        target = Path(new_home).absolute()
        with self._lock:
            if not self._is_installed(self._home):
                raise MariaDBError(f"move {self._home}: there is no server")
            if target.exists():
                raise MariaDBError(f"move {self._home} to {target}: the target exists")
            self.stop()
            moved = MariaDB(target, port=self._port, os_user=self._os_user)
            try:
                for purpose in SCRATCH_PURPOSES:  # what a job cut short left beside the home
                    marks.remove_marked(self.scratch_dir(purpose))
                move_marked(self._account, self._home, target)
                index = moved.data_dir / f"{BINLOG_BASENAME}.index"
                if index.exists():
                    names = read_file(index).replace(f"{self.data_dir}/", f"{moved.data_dir}/")
                    self._account.write_file(index, names.encode(), mode=stat.S_IMODE(index.lstat().st_mode))
            except (OSError, AccountError, marks.UnmarkedError) as exc:
                raise MariaDBError(f"moving {self._home} to {target} failed: {exc}") from exc
            logger.info("move %s: now at %s", self._home, target)
        return moved

    # -- remove ------------------------------------------------------------------------------------

    def remove(self) -> None:
        """Kill the server if it runs, then delete the home (marked ones only) and the socket directory."""
        with self._lock:
            # Killed, not shut down: its files go next, and a clean shutdown only costs time.
            self._kill(signal.SIGKILL)
            self._wait_for_exit(timeout=60)
            try:
                marks.remove_marked(self._home)
                for purpose in SCRATCH_PURPOSES:
                    marks.remove_marked(self.scratch_dir(purpose))
            except (OSError, marks.UnmarkedError) as exc:
                raise MariaDBError(f"removing {self._home} failed: {exc}") from exc
            if not self._greets():  # the socket of the server killed above, not of a new one on its port
                for leftover in (self.socket_path, self.socket_path.with_name(self.socket_path.name + ".lock")):
                    with contextlib.suppress(OSError):
                        leftover.unlink()
            with contextlib.suppress(OSError):
                self.socket_path.parent.rmdir()  # only when empty: another server may use the port now
            logger.info("remove %s: deleted", self._home)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _is_installed(home: Path) -> bool:
        return (home / DATA_NAME / "mysql" / "global_priv.frm").is_file()

    def _configured_port(self) -> int:
        try:
            text = read_file(self.option_file)
        except FileNotFoundError:
            raise MariaDBError(f"start {self._home}: the server is not configured (run configure first)") from None
        match = re.search(r"^port = (\d+)$", text, re.MULTILINE)
        if match is None:
            raise MariaDBError(f"start {self._home}: {CONF_NAME} names no port")
        return int(match.group(1))

    def _run(
        self,
        what: str,
        argv: list[str],
        *,
        timeout: float,
        cancel: threading.Event | None,
        stdin: str | None = None,
    ) -> None:
        try:
            self._account.run(argv, timeout=timeout, cancel=cancel, stdin=stdin)
        except CommandError as exc:
            raise MariaDBError(f"{what} {self._home} failed: {exc}") from exc

    def _log_tail(self, offset: int) -> str:
        try:
            return tail(self.log_file, offset, lines=_LOG_TAIL_LINES) or "(the server logged nothing)"
        except OSError as exc:
            return f"(no server log: {exc})"


def _alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie waiting for init to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][1:2]
    except OSError:
        return False
    return state not in ("Z", "X")
