"""Jobs that move a PostgreSQL service through its states: create, re-plan, migrate, start, delete.

Every service archives its WAL with pgBackRest from birth: each (re)configuration writes the
stanza's configuration and the archive settings, and a new repository gets its stanza created.
Each handler is idempotent: a job interrupted by a crash is claimed again and run from the start,
and every step checks what already exists (initdb keeps a complete cluster, start keeps a running
server, a migration finds the data already moved).
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from pathlib import Path

from controlplane.catalog import backups, repositories, services
from controlplane.catalog.db import transaction
from controlplane.catalog.models import Service
from controlplane.engine.pgbackrest import PgBackRest
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import Postgres, PostgresError
from controlplane.engine.scram import scram_verifier
from controlplane.jobs import kinds
from controlplane.jobs.archiving import Archiving, create_stanza
from controlplane.jobs.expiry import Expiries
from controlplane.jobs.replicator import copy_targets
from controlplane.jobs.runner import JobContext
from controlplane.jobs.wal import switch_wal, wait_for_wal
from controlplane.settings import Settings
from controlplane.storage.repository_copy import SourceChanged
from controlplane.storage.stores import StoreUnavailable

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
# The superuser of every cluster the control plane makes: only its own OS account's peer login reaches it.
CONTROL_ROLE = "dbaas_control"


class ServiceJobs:
    """The handlers, bound to the settings that say where binaries live and who runs them."""

    def __init__(self, settings: Settings, archiving: Archiving) -> None:
        self._settings = settings
        self._archiving = archiving
        self.expiries = Expiries(settings, archiving)

    def driver(self, service: Service, data_dir: Path | None = None) -> Postgres:
        assert service.port is not None
        return Postgres(
            data_dir or Path(service.data_dir),
            port=service.port,
            bin_dir=self._settings.postgres_bin,
            os_user=self._settings.os_user,
        )

    def create(self, context: JobContext) -> None:
        service = self.load(context)
        if service.port is None:
            service = self.save(context, port=free_loopback_port())
        postgres = self.driver(service)
        # The superuser is the control plane's, reached only by the peer login on the private socket: its
        # password is thrown away. The tenant gets an owner role (create_owner).
        postgres.initdb(username=CONTROL_ROLE, password=secrets.token_urlsafe(32))
        backrest = self.configure(context, service, postgres)
        postgres.start()
        create_owner(postgres, service.username, service.password)
        create_stanza(backrest)
        self.save(context, state="RUNNING", state_message=None, host=HOST)

    def apply_plan(self, context: JobContext) -> None:
        service = self.load(context)
        postgres = self.driver(service)
        self.configure(context, service, postgres)
        postgres.restart()
        self.save(context, state="RUNNING", state_message=None)

    def migrate(self, context: JobContext) -> None:
        """Moves the data directory to the new region's services directory and starts it there."""
        service = self.load(context)
        target = Path(context.payload["data_dir"])
        current = Path(service.data_dir)
        if current != target and (current.exists() or not target.exists()):
            self.driver(service).move_to(target)
        # The catalog follows the data at once: a crash from here on resumes at the new place. Existing
        # backups stay in the old region; new WAL and backups go to the new region's store.
        service = self.save(context, cloud=context.payload["cloud"], data_dir=str(target))
        postgres = self.driver(service, target)
        backrest = self.configure(context, service, postgres)
        postgres.start()
        create_stanza(backrest)
        self.save(context, state="RUNNING", state_message=None, host=HOST)

    def start(self, context: JobContext) -> None:
        """Brings back a service that was RUNNING before the control plane or the machine restarted (or
        whose tenant still is its cluster's superuser: see `create_owner`)."""
        service = self.load(context)
        postgres = self.driver(service)
        self.configure(context, service, postgres)
        postgres.start()
        if create_owner(postgres, service.username, service.password):
            self.configure(context, service, postgres)
        self.save(context, state="RUNNING", state_message=None, host=HOST)

    def delete(self, context: JobContext) -> None:
        """Stops and removes the server (its last WAL archived first), then what its backups no longer need.

        Jobs of the service queued before the deletion (a backup being taken, deleted, tested) end first: the
        deletion waits for them in the queue (catalog.jobs.WAIT_IN_QUEUE).
        """
        service = self.load(context)
        if service.port is not None:
            postgres = self.driver(service)
            if postgres.is_running():
                self._archive_to_the_end(context, service, postgres)
            postgres.remove()
        self.expiries.purge(context.sessions, self._archiving.stanza_name(service), service.project)
        with transaction(context.sessions) as session:
            found = services.get_service_by_id(session, service_id=service.id)
            if found is not None:
                services.delete_service(session, service=found)

    def _archive_to_the_end(self, context: JobContext, service: Service, postgres: Postgres) -> None:
        """Archive (and copy to the backup regions) every commit before the server goes, so that the backups
        it leaves recover up to its deletion; their recoverable window ends there."""
        stanza = self._archiving.stanza_name(service)
        with transaction(context.sessions) as session:
            current = services.get_service_by_id(session, service_id=service.id)
            assert current is not None
            locations = [
                r.path
                for r in repositories.list_repositories(session, service_id=service.id)
                if r.region == service.cloud
            ]
            targets = copy_targets(self._settings, self._archiving, session, current)
        try:
            primaries = [self._archiving.repository(location) for location in locations]
            segment = switch_wal(postgres, postgres.peer_role(), commit_first=True)
            wait_for_wal([r for r in primaries if r.exists()], stanza, segment, context, timeout=120)
            for target in targets:
                with self._archiving.copy_lock(stanza):
                    target.copy(self._archiving, target.plan(self._archiving))
        except (PostgresError, TimeoutError, StoreUnavailable, SourceChanged) as err:
            log.warning(
                "service %s/%s: its last WAL may be missing from its archive: %s", service.project, service.name, err
            )
            return
        end_recovery_windows(context, service)

    def configure(self, context: JobContext, service: Service, postgres: Postgres) -> PgBackRest:
        """Plan settings plus archiving into the repositories of the service's region."""
        with transaction(context.sessions) as session:
            current = services.get_service_by_id(session, service_id=service.id)
            if current is None:
                raise LookupError(f"service {service.id} no longer exists")
            self._archiving.ensure_repository(session, current, self._archiving.default_container(session, current))
            backrest = self._archiving.driver(session, current, postgres)
        backrest.write_config()
        postgres.configure(plan=PLANS[service.plan], port=_port(service), extra=backrest.archive_settings())
        return backrest

    def mark_failed(self, context: JobContext, message: str) -> None:
        """The job failed for good: the service says so instead of waiting forever."""
        if context.service_id is None or context.kind not in kinds.SERVICE_KINDS:
            return
        with transaction(context.sessions) as session:
            service = services.get_service_by_id(session, service_id=context.service_id)
            if service is not None:
                services.update_service(session, service=service, state="FAILED", state_message=message)

    def load(self, context: JobContext) -> Service:
        assert context.service_id is not None
        with transaction(context.sessions) as session:
            service = services.get_service_by_id(session, service_id=context.service_id)
            if service is None:
                raise LookupError(f"service {context.service_id} no longer exists")
            session.expunge(service)
            return service

    def save(self, context: JobContext, **changes: object) -> Service:
        assert context.service_id is not None
        with transaction(context.sessions) as session:
            service = services.get_service_by_id(session, service_id=context.service_id)
            if service is None:
                raise LookupError(f"service {context.service_id} no longer exists")
            services.update_service(session, service=service, **changes)
            session.flush()
            session.expunge(service)
            return service


def create_owner(postgres: Postgres, username: str, password: str) -> bool:
    """The tenant's role: it logs in, owns the `postgres` database (so it creates schemas and tables there)
    and creates databases, but is no superuser — no programs, no server files, no untrusted languages.

    No CREATEROLE: on PostgreSQL 15 it lets a role grant itself pg_execute_server_program and the like.
    A cluster made before the control plane kept a superuser of its own (its tenant was the superuser, also
    in forks of its backups) gets `CONTROL_ROLE` first; True then: pgBackRest's configuration, which names
    the superuser, must be written again. Idempotent; the password reaches the server as a SCRAM verifier.
    """
    role, verifier, superuser = f'"{username}"', scram_verifier(password), postgres.peer_role()
    upgraded = superuser == username
    if upgraded:
        exists = postgres.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{CONTROL_ROLE}'", user=superuser) == "1"
        postgres.psql(f'{"ALTER" if exists else "CREATE"} ROLE "{CONTROL_ROLE}" SUPERUSER LOGIN', user=superuser)
        postgres.map_peer_login(CONTROL_ROLE)
        superuser = CONTROL_ROLE
    exists = postgres.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{username}'", user=superuser) == "1"
    verb = "ALTER" if exists else "CREATE"
    postgres.psql(f"{verb} ROLE {role} LOGIN CREATEDB NOSUPERUSER PASSWORD '{verifier}'", user=superuser)
    postgres.psql(f"ALTER DATABASE postgres OWNER TO {role}", user=superuser)
    return upgraded


def _port(service: Service) -> int:
    assert service.port is not None
    return service.port


def end_recovery_windows(context: JobContext, service: Service) -> None:
    """The recoverable window of each of the service's backups ends now: its server archived its last commit
    and goes."""
    with transaction(context.sessions) as session:
        ended = datetime.now(UTC)
        for backup in backups.list_backups(session, service_id=service.id):
            backups.update_backup(session, backup=backup, recovery_window_end=ended)
