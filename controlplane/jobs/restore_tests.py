"""Restore tests (AWS Backup's restore testing): prove a backup restores by restoring it and checking the copy.

A test restores the backup into a scratch server of its own (`<data dir>/restore-tests/backup-<id>`, a free
loopback port; the restore turns WAL archiving off, so nothing reaches any repository), starts it, waits for
it to promote, and runs pg_amcheck on every database that accepts connections. The result lands on the
backup (`last_restore_test`); a failed test makes it not ready to use (Trove's caution about deleted objects:
never trust a backup that no longer restores). The scratch server and directory are removed in every case.

Idempotent like every job: an attempt first removes what an interrupted one left (a server still running,
a restore still writing, the files) and tests again.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from controlplane.catalog import backups, jobs
from controlplane.catalog.db import transaction
from controlplane.catalog.models import RESTORE_TEST_STATES, Backup
from controlplane.domain.errors import Conflict
from controlplane.engine import mariabackup, marks
from controlplane.engine.mariabackup import BackupError
from controlplane.engine.mariadb import CONF_NAME as MARIADB_CONF
from controlplane.engine.mariadb import SCRATCH_PURPOSES, MariaDB, MariaDBError
from controlplane.engine.os_user import resolve_account
from controlplane.engine.pgbackrest import PgBackRestError
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import Postgres, PostgresError
from controlplane.engine.postmaster import postmaster_port
from controlplane.jobs import kinds
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.runner import JobContext
from controlplane.settings import Settings
from controlplane.storage.stores import StoreUnavailable

log = logging.getLogger(__name__)
RUNNING, PASSED, FAILED = RESTORE_TEST_STATES
_STRAGGLER_WAIT = 10.0
# How the engine's errors quote a failed command (os_user.CommandError): "<binary> <arguments>: <reason>".
_QUOTED_COMMAND = re.compile(r": /[^\n]*?: (exited with status \d+|timed out after \S+ s|cancelled)$", re.MULTILINE)


class NotTestable(Conflict):
    """The backup cannot be restore-tested now; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "name")


def queue_restore_test(session: Session, backup: Backup) -> None:
    """Queue a restore test of `backup`; it reads `running` until the result is in.

    Only a Succeeded backup can be tested, one test at a time: NotTestable otherwise.
    """
    if backup.state != "Succeeded":
        raise NotTestable(f"backup {backup.name!r} is {backup.state}: only a Succeeded backup can be restore-tested")
    if backup.restore_test_state == RUNNING:
        raise NotTestable(f"a restore test of backup {backup.name!r} is running already")
    backups.update_backup(
        session,
        backup=backup,
        restore_test_state=RUNNING,
        restore_tested_at=None,
        restore_test_duration_seconds=None,
        restore_test_message=None,
    )
    # No service: the test never touches it, and an active job of a service holds up its restart after a
    # crash (recovery.py).
    jobs.enqueue_job(
        session, kind=kinds.RESTORE_TEST, project=backup.project, service_id=None, payload={"backup_id": backup.id}
    )


# An engine's test of one backup restored into `scratch`: what it checked (its engine's errors: a failed test).
Check = Callable[[Backup, Path, JobContext], str]


class RestoreTests:
    def __init__(self, settings: Settings, archiving: Archiving) -> None:
        self._settings = settings
        self._archiving = archiving

    def scratch_dir(self, backup_id: int) -> Path:
        """The scratch server's data directory: one per backup, so that a resumed test finds what was left."""
        return self._settings.data_dir / "restore-tests" / f"backup-{backup_id}"

    def test(self, context: JobContext, check: Check) -> None:
        """Restore-test the job's backup with its engine's `check` (check_postgres, check_mariadb)."""
        backup_id = int(context.payload["backup_id"])
        scratch = self.scratch_dir(backup_id)
        self._discard(scratch)
        with transaction(context.sessions) as session:
            backup = backups.get_backup_by_id(session, backup_id=backup_id)
            if backup is None or backup.restore_test_state != RUNNING:
                return  # deleted meanwhile, or the result was recorded before an interruption
            backups.update_backup(session, backup=backup, restore_tested_at=datetime.now(UTC))
            session.flush()
            session.expunge(backup)
        started = time.monotonic()
        try:
            state, message = self._attempt(backup, scratch, context, check)
            duration = time.monotonic() - started
        finally:
            self._discard(scratch)
        self._record(
            context,
            backup_id,
            restore_test_state=state,
            restore_test_message=message,
            restore_test_duration_seconds=round(duration, 3),
        )
        log.info("restore test of backup %s of %s/%s: %s", backup.name, backup.project, backup.service, state)

    def mark_failed(self, context: JobContext, message: str) -> None:
        """A restore test that failed for good says so (it never stays running) and leaves no scratch server."""
        if context.kind != kinds.RESTORE_TEST:
            return
        backup_id = int(context.payload["backup_id"])
        self._record(context, backup_id, restore_test_state=FAILED, restore_test_message=message)
        self._discard(self.scratch_dir(backup_id))

    def _attempt(self, backup: Backup, scratch: Path, context: JobContext, check: Check) -> tuple[str, str]:
        """(state, message): passed with what was checked, or failed with what went wrong."""
        try:
            return PASSED, check(backup, scratch, context)
        except (PgBackRestError, PostgresError, BackupError, MariaDBError, StoreUnavailable) as err:
            if context.cancel.is_set():
                raise  # the lease was lost: whoever holds the job now tests again, this is no result
            return FAILED, _without_command_line(str(err))

    def check_postgres(self, backup: Backup, scratch: Path, context: JobContext) -> str:
        """A pgBackRest backup restored into a scratch PostgreSQL cluster, started and promoted, and pg_amcheck
        run on every database that accepts connections."""
        stanza, repo_path, label = backup.stanza, backup.repo_path, backup.label
        if not (stanza and repo_path and label):
            raise PgBackRestError(f"backup {backup.name!r} has no pgBackRest stanza, repository or label")
        port = free_loopback_port()
        postgres = self._driver(scratch, port)
        source = self._archiving.repository_driver(stanza, repo_path)
        source.restore(
            target=scratch, repo=1, label=label, port=port, socket_dir=postgres.socket_dir, cancel=context.cancel
        )
        postgres.start(cancel=context.cancel)
        role = postgres.peer_role()
        postgres.wait_until_promoted(user=role, cancel=context.cancel)
        databases = postgres.psql("SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname", user=role)
        postgres.amcheck(user=role, cancel=context.cancel)
        names = databases.split()
        return (
            f"restored {label}, started and promoted; {len(names)} databases accept connections "
            f"({', '.join(names)}); pg_amcheck found no corruption in their tables and B-tree indexes"
        )

    def check_mariadb(self, backup: Backup, scratch: Path, context: JobContext) -> str:
        """A mariabackup chain restored into a scratch MariaDB server, started, and CHECK TABLE run on every
        table of every database (mariadb-check)."""
        stanza, repo_path, label = backup.stanza, backup.repo_path, backup.label
        if not (stanza and repo_path and label):
            raise BackupError(f"backup {backup.name!r} has no mariabackup stanza, repository or label")
        port = free_loopback_port()
        server = MariaDB(scratch, port=port, os_user=self._settings.mysql_os_user)
        repository = self._archiving.repository(repo_path)
        links = len(mariabackup.chain(repository, stanza, label))
        mariabackup.restore(repository, stanza, label, server, cancel=context.cancel)
        server.configure(plan=PLANS["hobbyist"], port=port)
        server.start(cancel=context.cancel)
        server.check_tables(cancel=context.cancel)
        names = server.sql("SHOW DATABASES").split()
        return (
            f"restored {label} (a chain of {links} backups) and started; {len(names)} databases "
            f"({', '.join(names)}); CHECK TABLE found no damage in their tables"
        )

    def _discard(self, scratch: Path) -> None:
        """Stop the scratch server (one left by a killed control plane too) and delete its directory."""
        if (scratch / MARIADB_CONF).exists() or any(
            scratch.with_name(f".{scratch.name}.{purpose}").exists() for purpose in SCRATCH_PURPOSES
        ):
            MariaDB(scratch, port=0, os_user=self._settings.mysql_os_user).remove()  # a mysql restore test's
        port = postmaster_port(scratch)
        server = None if port is None else self._driver(scratch, port)
        if server is not None:
            server.stop(mode="immediate")
        _kill_stragglers(scratch, resolve_account(self._settings.os_user).uid)
        if server is not None:
            server.remove()  # with its socket directory
        marks.remove_marked(scratch)  # when the server was not started: its restore cut short

    def _driver(self, scratch: Path, port: int) -> Postgres:
        return Postgres(scratch, port=port, bin_dir=self._settings.postgres_bin, os_user=self._settings.os_user)

    @staticmethod
    def _record(context: JobContext, backup_id: int, **changes: Any) -> None:
        with transaction(context.sessions) as session:
            backup = backups.get_backup_by_id(session, backup_id=backup_id)
            if backup is not None:
                backups.update_backup(session, backup=backup, **changes)


def _without_command_line(message: str) -> str:
    """An engine error without the command line it quotes (pgBackRest's fills a paragraph): what failed, why."""
    return _QUOTED_COMMAND.sub(r" (\1)", message, count=1)


def _kill_stragglers(scratch: Path, uid: int) -> None:
    """Kill what a killed control plane left working on `scratch` (a restore still writing into it).

    Those programs run as the account `uid` in sessions of their own, so they outlive the control plane;
    the server itself is stopped before, through its postmaster.pid.
    """
    # The path as a whole argument or option value, not as the prefix of another (backup-1 vs backup-12).
    naming = re.compile(re.escape(str(scratch).encode()) + rb"(?=[\0 /]|$)")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid == uid and naming.search((entry / "cmdline").read_bytes()):
                os.kill(int(entry.name), signal.SIGKILL)
                found.append(entry)
        except OSError:
            continue  # gone meanwhile
    deadline = time.monotonic() + _STRAGGLER_WAIT
    while any(entry.exists() for entry in found) and time.monotonic() < deadline:
        time.sleep(0.05)
    if found:
        log.warning("restore test: killed %d program(s) left working on %s", len(found), scratch)
