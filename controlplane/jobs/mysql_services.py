"""The jobs of a MySQL service (`service_type = "mysql"`): MariaDB 10.11, run by the `mysql_os_user` account.

The same job kinds as a PostgreSQL service (controlplane/jobs/engines.py dispatches on `service_type`), with
MariaDB's driver (engine/mariadb.py). A service's home is its `data_dir`; its stanza (the name of its
backups and binary logs in the repositories, `mysql/<stanza>/`) is named as a pgBackRest stanza is
(Archiving.stanza_name). Binary logs are archived from birth into every repository of the service's region
by the binlog archiver (controlplane/jobs/binlog_archiver.py), which `MySQLServices.archive_binlogs` serves.
Each handler is idempotent: install keeps a complete home, start keeps a running server.
"""

from __future__ import annotations

import logging
from pathlib import Path

from controlplane.catalog import backups, repositories, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Service
from controlplane.engine import binlog_archive, binlog_gaps, mariabackup
from controlplane.engine.binlog_archive import BinlogArchiveError
from controlplane.engine.mariadb import MariaDB, MariaDBError
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.jobs.archiving import DEFAULT_CONTAINER, Archiving
from controlplane.jobs.expiry import Expiries
from controlplane.jobs.replicator import copy_targets
from controlplane.jobs.runner import JobContext
from controlplane.jobs.service_jobs import HOST, ServiceJobs, end_recovery_windows
from controlplane.settings import Settings
from controlplane.storage.stores import Repository, StoreUnavailable

log = logging.getLogger(__name__)


class MySQLServices:
    """Create, re-plan, start and delete MariaDB services; the catalog work is ServiceJobs' (load, save)."""

    def __init__(self, settings: Settings, archiving: Archiving, service_jobs: ServiceJobs) -> None:
        self._settings = settings
        self._archiving = archiving
        self._jobs = service_jobs
        self.expiries: Expiries = service_jobs.expiries

    def server(self, service: Service, home: Path | None = None) -> MariaDB:
        assert service.port is not None
        return MariaDB(home or Path(service.data_dir), port=service.port, os_user=self._settings.mysql_os_user)

    def create(self, context: JobContext) -> None:
        service = self._jobs.load(context)
        if service.port is None:
            service = self._jobs.save(context, port=free_loopback_port())
        server = self.server(service)
        server.install(username=service.username, password=service.password, cancel=context.cancel)
        self.configure(context, service, server)
        server.start(cancel=context.cancel)
        self._jobs.save(context, state="RUNNING", state_message=None, host=HOST)

    def apply_plan(self, context: JobContext) -> None:
        service = self._jobs.load(context)
        server = self.server(service)
        self.configure(context, service, server)
        server.stop()
        server.start(cancel=context.cancel)
        self._jobs.save(context, state="RUNNING", state_message=None)

    def migrate(self, context: JobContext) -> None:
        """Move the home to the new region's services directory and start it there. Its binary logs are archived
        in the old region first, so the backups left there recover up to the move; from then on they go to the
        new region's repository, where new backups go."""
        service = self._jobs.load(context)
        target = Path(context.payload["data_dir"])
        current = Path(service.data_dir)
        if current != target and (current.exists() or not target.exists()):
            server = self.server(service)
            if server.is_running():
                self._archive_everything(context, service, server)
            server.move_to(target)
        # The catalog follows the home at once: a crash from here on resumes at the new place.
        service = self._jobs.save(context, cloud=context.payload["cloud"], data_dir=str(target))
        server = self.server(service, target)
        self.configure(context, service, server)
        server.start(cancel=context.cancel)
        self._jobs.save(context, state="RUNNING", state_message=None, host=HOST)

    def start(self, context: JobContext) -> None:
        """Brings back a service that was RUNNING before the control plane or the machine restarted."""
        service = self._jobs.load(context)
        server = self.server(service)
        self.configure(context, service, server)
        server.start(cancel=context.cancel)
        server.ensure_owner(username=service.username, password=service.password)
        self._jobs.save(context, state="RUNNING", state_message=None, host=HOST)

    def delete(self, context: JobContext) -> None:
        """Archive (and copy) the last binary logs, remove the server, then the stanza when no listed backup
        needs it any more."""
        service = self._jobs.load(context)
        stanza = self._archiving.stanza_name(service)
        if service.port is not None:
            server = self.server(service)
            if server.is_running():
                self._archive_to_the_end(context, service, server)
            server.remove()
        with transaction(context.sessions) as session:
            containers = {r.container for r in repositories.list_repositories(session, service_id=service.id)}
        # Purged before the row goes (as a pg service's stanza): a crash in between leaves a job that redoes both,
        # and a service that left the API has left the stores too.
        self.purge(context, stanza, service.project, containers)
        with transaction(context.sessions) as session:
            found = services.get_service_by_id(session, service_id=service.id)
            if found is not None:
                services.delete_service(session, service=found)

    def purge(self, context: JobContext, stanza: str, project: str, containers: set[str]) -> None:
        """Remove `mysql/<stanza>/` from the project's `containers` (and those of the stanza's backups, and the
        default one) in every region, once no listed backup is of the stanza: the service is gone then."""
        with transaction(context.sessions) as session:
            listed = [b.container for b in backups.list_backups(session, project=project) if b.stanza == stanza]
        if listed:
            return
        with self._archiving.copy_lock(stanza):
            for container in sorted(containers | {DEFAULT_CONTAINER}):
                for location in self.expiries.copies(project, container):
                    try:
                        self._archiving.repository(location).remove(f"mysql/{stanza}/")
                    except StoreUnavailable as exc:
                        log.warning("stanza %s stays in %s for now: %s", stanza, location, exc)

    def _archive_to_the_end(self, context: JobContext, service: Service, server: MariaDB) -> None:
        """Every commit reaches the archive (and the backup regions) before the server goes: the backups it
        leaves recover up to its deletion."""
        if not self._archive_everything(context, service, server):
            return
        end_recovery_windows(context, service)

    def _archive_everything(self, context: JobContext, service: Service, server: MariaDB) -> bool:
        """Close the current binary log, archive every log in the service's region and copy the stanza to its
        backup regions; False (logged) when a store did not take them."""
        stanza = self._archiving.stanza_name(service)
        with transaction(context.sessions) as session:
            current = services.get_service_by_id(session, service_id=service.id)
            assert current is not None
            targets = copy_targets(self._settings, self._archiving, session, current)
        try:
            self.archive_binlogs(self.primaries(context, service), stanza, server, flush=True)
            for target in targets:
                with self._archiving.copy_lock(stanza):
                    target.copy(self._archiving, target.plan(self._archiving))
        except (BinlogArchiveError, MariaDBError, StoreUnavailable) as err:
            log.warning("service %s/%s: its last binary logs may be missing: %s", service.project, service.name, err)
            return False
        return True

    def archive_binlogs(self, repositories_: list[Repository], stanza: str, server: MariaDB, *, flush: bool) -> None:
        """Archive the closed binary logs of `server` into every repository, then let the server purge them;
        with `flush`, the current log is closed first, so every commit made before the call is archived. Under
        the stanza's binlog lease: one archiver at a time, across control planes. When a store does not take
        them, the server keeps at most `wal_queue_max_mb` of binary logs (binlog_gaps.py) and the error is raised."""
        with self._archiving.binlog_lock(stanza):
            try:
                _archive_binlogs(repositories_, stanza, server, flush=flush)
            except (BinlogArchiveError, StoreUnavailable):
                try:
                    binlog_gaps.enforce_cap(server, stanza, self._settings.wal_queue_max_mb * 1024 * 1024)
                except (BinlogArchiveError, MariaDBError) as exc:
                    log.warning("stanza %s: its binary logs could not be capped: %s", stanza, exc)
                raise

    def primaries(self, context: JobContext, service: Service) -> list[Repository]:
        """The service's repositories in its own region, where its binary logs are archived."""
        with transaction(context.sessions) as session:
            locations = [
                r.path
                for r in repositories.list_repositories(session, service_id=service.id)
                if r.region == service.cloud
            ]
        return [self._archiving.repository(location) for location in locations]

    def configure(self, context: JobContext, service: Service, server: MariaDB) -> None:
        """The plan's settings, and the service's repository in its default container (its binary logs go
        there from birth)."""
        with transaction(context.sessions) as session:
            current = services.get_service_by_id(session, service_id=service.id)
            if current is None:
                raise LookupError(f"service {service.id} no longer exists")
            self._archiving.ensure_repository(session, current, self._archiving.default_container(session, current))
        assert service.port is not None
        server.configure(plan=PLANS[service.plan], port=service.port)


def _archive_binlogs(repositories_: list[Repository], stanza: str, server: MariaDB, *, flush: bool) -> None:
    if flush:
        server.flush_binary_logs()
    current = server.binlog_files()[-1].name
    for repository in repositories_:
        binlog_archive.archive(repository, stanza, server, purge=False)
    binlog_archive.purge_to(server, stanza, current)


def latest_backup(repository: Repository, stanza: str) -> mariabackup.BackupManifest | None:
    """The backup that ended last (a fork at the latest transaction replays from it)."""
    found = mariabackup.list_backups(repository, stanza)
    return max(found, key=lambda item: (item.stopped_at, item.label)) if found else None
