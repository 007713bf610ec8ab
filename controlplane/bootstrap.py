"""Bring a control plane up: directories, catalog, admin token, job runner, recovery."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import sealing, services
from controlplane.catalog.db import make_engine, migrate, session_factory, transaction
from controlplane.catalog.tokens import create_token
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.backup_jobs import BackupJobs
from controlplane.jobs.binlog_archiver import BinlogArchiver
from controlplane.jobs.engines import MYSQL, PG, Engine, dispatch
from controlplane.jobs.fork_jobs import ForkJobs
from controlplane.jobs.gap_watch import GapWatch
from controlplane.jobs.mariadb_engine import MariaDBEngine
from controlplane.jobs.mysql_backups import MySQLBackups
from controlplane.jobs.mysql_forks import MySQLForks
from controlplane.jobs.mysql_services import MySQLServices
from controlplane.jobs.postgres_engine import PostgresEngine
from controlplane.jobs.recovery import recover
from controlplane.jobs.replicator import Replicator
from controlplane.jobs.restore_tests import RestoreTests
from controlplane.jobs.runner import JobContext, JobRunner
from controlplane.jobs.scheduler import Scheduler
from controlplane.jobs.service_jobs import ServiceJobs
from controlplane.runtime import Runtime
from controlplane.settings import Settings

log = logging.getLogger(__name__)


def prepare_directories(settings: Settings) -> None:
    """The data directory and each region's object store and services directory.

    They are traversable (0711) but not listable by others: the database processes run as an
    unprivileged user that must reach its own data directory below them.
    """
    directories = [settings.data_dir]
    for region in settings.regions:
        directories.append(region.services_dir)
        if region.object_store is not None:  # None: an S3 region, whose store is no directory of ours
            directories.append(region.object_store)
    for directory in directories:
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o711)


class NoCatalog(Exception):
    """A command that must find a catalog found none; the message names where it looked."""


def require_catalog(settings: Settings) -> None:
    """NoCatalog unless the catalog was made before: a one-shot command run from the wrong directory (the
    data directory defaults to ./.dbaas) must not quietly start a new, empty one."""
    url = make_url(settings.catalog_url)
    if url.get_backend_name() == "sqlite":
        if url.database and not Path(url.database).is_file():
            raise NoCatalog(
                f"no catalog in {settings.data_dir} ({Path(url.database).name} not found): give the data directory "
                "of `dbaas-cp serve` with --data-dir"
            )
        return
    engine = make_engine(settings.catalog_url)
    try:
        made = inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()
    if not made:
        raise NoCatalog(
            f"no catalog in the database {url.render_as_string(hide_password=True)}: give the catalog_url of "
            "`dbaas-cp serve`"
        )


def open_catalog(settings: Settings) -> sessionmaker[Session]:
    """The migrated catalog, with the key that seals its secrets loaded (and passwords stored before sealing
    existed sealed now). A key made now for a catalog that already holds sealed passwords is refused: those
    were sealed with another control plane's key, whose file `sealing_key_file` must name."""
    made = sealing.load_key(settings.sealing_key)
    engine = make_engine(settings.catalog_url)
    migrate(engine)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        if made and services.sealed_passwords_exist(session):
            sealing.forget_key(settings.sealing_key)
            raise sealing.SealingError(
                f"the catalog holds passwords sealed with a key that is not at {settings.sealing_key}: set "
                "sealing_key_file to the key file of the control planes that share this catalog"
            )
        resealed = services.reseal_passwords(session)
    if resealed:
        log.info("sealed the passwords of %d service(s) stored before sealing", resealed)
    return sessions


def bootstrap_admin_token(settings: Settings, sessions: sessionmaker[Session]) -> Path | None:
    """On first start, an admin token in a 0600 file of the data directory; None when it exists."""
    path = settings.admin_token_file
    if path.exists():
        return None
    with transaction(sessions) as session:
        token = create_token(session, project=None, description="admin token made at first start")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token + "\n")
    return path


def stop_service_servers(settings: Settings, mode: str = "fast") -> int:
    """Stop the PostgreSQL and MariaDB servers of every service (they outlive `serve` by design); how many were
    running. `mode` is PostgreSQL's shutdown mode; a MariaDB server is shut down cleanly."""
    from controlplane.engine.mariadb import CONF_NAME, MariaDB
    from controlplane.engine.postgres import Postgres

    stopped = 0
    for region in settings.regions:
        for pid_file in region.services_dir.glob("*/*/postmaster.pid"):
            port = int(pid_file.read_text().splitlines()[3])
            Postgres(pid_file.parent, port=port, bin_dir=settings.postgres_bin).stop(mode=mode)
            stopped += 1
        for option_file in region.services_dir.glob(f"*/*/{CONF_NAME}"):
            server = MariaDB(option_file.parent, port=0, os_user=settings.mysql_os_user)
            if server.is_running():
                server.stop()
                stopped += 1
    return stopped


def build_runtime(settings: Settings) -> Runtime:
    prepare_directories(settings)
    sessions = open_catalog(settings)
    token_file = bootstrap_admin_token(settings, sessions)
    if token_file is not None:
        log.warning(
            "admin token written to %s (mode 0600); create project tokens with `dbaas-cp token create --project NAME`",
            token_file,
        )
    archiving = Archiving(settings, sessions)
    service_jobs = ServiceJobs(settings, archiving)
    replicator = Replicator(settings, sessions, archiving)
    backup_jobs = BackupJobs(archiving, service_jobs, on_backup=replicator.wake)
    fork_jobs = ForkJobs(archiving, service_jobs, wake_replicator=replicator.wake)
    restore_tests = RestoreTests(settings, archiving)
    mysql = MySQLServices(settings, archiving, service_jobs)
    mysql_backups = MySQLBackups(archiving, mysql, backup_jobs)
    mysql_forks = MySQLForks(archiving, service_jobs, mysql, wake_replicator=replicator.wake)

    def on_failure(context: JobContext, message: str) -> None:
        service_jobs.mark_failed(context, message)  # a failed fork fails its service too
        backup_jobs.mark_failed(context, message)
        restore_tests.mark_failed(context, message)

    engines: dict[str, Engine] = {
        PG: PostgresEngine(archiving, service_jobs, backup_jobs, fork_jobs, restore_tests),
        MYSQL: MariaDBEngine(archiving, mysql, mysql_backups, mysql_forks, restore_tests),
    }
    runner = JobRunner(
        sessions,
        dispatch(engines),
        workers=settings.job_workers,
        lease_seconds=settings.lease_seconds,
        on_failure=on_failure,
    )
    restarted = recover(
        sessions,
        service_jobs,
        single_process=settings.catalog_url.startswith("sqlite"),
        engines=engines,
    )
    if restarted:
        log.warning("starting %d service(s) that were running before", restarted)
    engine = sessions.kw["bind"]
    scheduler = Scheduler(sessions, runner.wake)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        archiving=archiving,
        runner=runner,
        scheduler=scheduler,
        replicator=replicator,
        gap_watch=GapWatch(settings, sessions, archiving, engines),
        binlog_archiver=BinlogArchiver(settings, sessions, archiving, engines),
    )
