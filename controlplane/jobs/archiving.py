"""Each service's pgBackRest stanza: its name, its configuration directory and its repositories.

A repository is a (region, container) directory of the region's object store, numbered once per
service (repoN) so that the numbers in pgBackRest's configuration never change meaning. WAL is
archived from birth into every repository of the service's current region.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from functools import cached_property
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import leases, repositories, strategies
from controlplane.catalog.models import Service, ServiceRepository
from controlplane.engine.os_user import Account, resolve_account
from controlplane.engine.pgbackrest import PgBackRest, PgBackRestError, Repository, Stanza, StanzaLock
from controlplane.engine.postgres import Postgres
from controlplane.settings import Settings
from controlplane.storage.stores import Repository as StoredRepository
from controlplane.storage.stores import location_of, open_repository

DEFAULT_CONTAINER = "default"
MYSQL_OBJECTS = "mysql/"  # where mysql stanzas live in a repository (engine/mariabackup.py, binlog_archive.py)


# How long work waits for a stanza's lease: a copy of a large backup or a long backup may hold it for hours.
_LEASE_WAIT = 24 * 3600.0


class Archiving:
    """Services' stanzas, their repositories and the leases that keep work on one stanza apart.

    Without `sessions` (a catalog), repositories can be driven but not locked: `copy_lock` and the
    drivers' stanza locks need the catalog, which every control plane sharing the stores shares.
    """

    def __init__(self, settings: Settings, sessions: sessionmaker[Session] | None = None) -> None:
        self._settings = settings
        self._sessions = sessions
        self._account = resolve_account(settings.os_user)

    @property
    def os_user(self) -> str | None:
        return self._settings.os_user

    @staticmethod
    def stanza_name(service: Service) -> str:
        # The id keeps a re-created service (same name) apart from the backups of its predecessor.
        return f"{service.project}-{service.name}-{service.id}"

    def config_dir(self, stanza: str) -> Path:
        """Outside the data directory: it stays put when the service migrates and outlives a deletion."""
        return self._settings.data_dir / "pgbackrest" / stanza

    def copy_lock(
        self, stanza: str, *, timeout: float = _LEASE_WAIT, cancel: threading.Event | None = None
    ) -> AbstractContextManager[None]:
        """Held while the stanza's repositories are copied to other regions, or their copies expired: a catalog
        lease, so control planes on other hosts wait too (leases.LeaseTimeout, LeaseCancelled)."""
        return self._lease(f"copy:{stanza}", timeout=timeout, cancel=cancel)

    def binlog_lock(self, stanza: str) -> AbstractContextManager[None]:
        """Held while a mysql stanza's binary log index is rewritten (archiving, pruning): its archivers on every
        control plane take turns, so that none writes back an index without another's files."""
        return self._lease(f"binlog:{stanza}", timeout=_LEASE_WAIT, cancel=None)

    def stanza_lock(self, stanza: str) -> StanzaLock:
        """The lock pgBackRest drivers of `stanza` hold around a backup or an expire (a catalog lease): each
        control plane has pgBackRest locks of its own, which keep nothing apart across control planes."""

        @contextmanager
        def lock(what: str, timeout: float, cancel: threading.Event | None) -> Iterator[None]:
            with ExitStack() as stack:
                try:
                    stack.enter_context(self._lease(f"backup:{stanza}", timeout=timeout, cancel=cancel))
                except (leases.LeaseTimeout, leases.LeaseCancelled) as exc:
                    raise PgBackRestError(f"{what} of {stanza}: {exc}") from exc
                yield

        return lock

    def _lease(self, name: str, *, timeout: float, cancel: threading.Event | None) -> AbstractContextManager[None]:
        if self._sessions is None:
            raise RuntimeError(f"lease {name!r}: this Archiving has no catalog to hold leases in")
        return leases.hold(
            self._sessions,
            name,
            holder=leases.process_holder(),
            ttl=self._settings.lease_seconds,
            timeout=timeout,
            cancel=cancel,
        )

    def forget_stanza(self, stanza: str) -> None:
        """Remove the stanza's configuration: its service and every backup of it are gone."""
        shutil.rmtree(self.config_dir(stanza), ignore_errors=True)

    def location(self, region: str, project: str, container: str) -> str:
        """Where `project`'s `container` lives in `region` (controlplane/storage/stores.py's one rule)."""
        found = self._settings.region(region)
        if found is None:
            raise LookupError(f"region {region!r} is not configured")
        return location_of(found, project, container)

    def repository(self, location: str) -> StoredRepository:
        """The repository at `location` (a catalog `repo_path`), to list, read and write its objects."""
        return open_repository(self._settings, location, self._account, owner_of=self.owner_of)

    def owner_of(self, key: str) -> Account:
        """Whose an object written into a directory store is: a mysql stanza's (`mysql/…`, written by the control
        plane alone) the MariaDB servers' account's, like their datadirs; the rest, and the container, the
        account's that runs pgBackRest, which writes its stanzas there itself."""
        return self._mysql_account if key.startswith(MYSQL_OBJECTS) else self._account

    @cached_property
    def _mysql_account(self) -> Account:
        # Resolved when first needed: a host that runs no mysql service may have no such account.
        return resolve_account(self._settings.mysql_os_user)

    def ensure_repository(self, session: Session, service: Service, container: str) -> ServiceRepository:
        """The service's repository in its region's `container`, recorded (and the container made) once."""
        location = self.location(service.cloud, service.project, container)
        self.repository(location).create()
        return repositories.ensure_repository(
            session, service_id=service.id, region=service.cloud, container=container, path=location
        )

    def default_container(self, session: Session, service: Service) -> str:
        return strategies.effective_container(
            session, project=service.project, service=service.name, requested=None, default=DEFAULT_CONTAINER
        )

    def driver(self, session: Session, service: Service, postgres: Postgres) -> PgBackRest:
        """pgBackRest for the service's stanza, with the repositories of its current region."""
        repos = tuple(
            self._pgbackrest_repository(repo.repo_index, repo.path)
            for repo in repositories.list_repositories(session, service_id=service.id)
            if repo.region == service.cloud
        )
        stanza = self.stanza_name(service)
        return PgBackRest(
            Stanza(
                name=stanza,
                pg_data=postgres.data_dir,
                pg_port=postgres.port,
                pg_socket_dir=postgres.socket_dir,
                pg_user=postgres.peer_role(),
                repositories=repos,
            ),
            config_dir=self.config_dir(stanza),
            os_user=self.os_user,
            stanza_lock=self._stanza_lock_or_none(stanza),
            archive_queue_max_mb=self._settings.wal_queue_max_mb,
        )

    def repository_driver(self, stanza: str, location: str | Path) -> PgBackRest:
        """pgBackRest on one repository alone (as repo1), for work that needs no running server."""
        config_dir = self.config_dir(stanza) / f"repo-{_slug(str(location))}"
        backrest = PgBackRest(
            Stanza(
                name=stanza,
                pg_data=config_dir / "no-pg",
                pg_port=5432,
                pg_socket_dir=config_dir,
                pg_user="postgres",
                repositories=(self._pgbackrest_repository(1, str(location)),),
            ),
            config_dir=config_dir,
            os_user=self.os_user,
            # The stanza's own lock directory and lease: an expire here must wait for the service's backups.
            lock_dir=self.config_dir(stanza) / "lock",
            stanza_lock=self._stanza_lock_or_none(stanza),
        )
        backrest.write_config()
        return backrest

    def _stanza_lock_or_none(self, stanza: str) -> StanzaLock | None:
        """The stanza's lease when there is a catalog; else the driver's own (host-local) lock."""
        return self.stanza_lock(stanza) if self._sessions is not None else None

    def _pgbackrest_repository(self, index: int, location: str) -> Repository:
        options = self.repository(location).pgbackrest_options()
        return Repository(index=index, path=Path(options.pop("path")), settings=options)


def create_stanza(backrest: PgBackRest, *, online: bool = True, attempts: int = 60) -> None:
    """stanza-create, waiting out the archive lock that an asynchronous archive-push may hold."""
    for attempt in range(attempts):
        try:
            backrest.stanza_create(online=online)
            return
        except PgBackRestError as err:
            if "unable to acquire lock" not in str(err) or attempt == attempts - 1:
                raise
        time.sleep(0.5)


def _slug(location: str) -> str:
    return hashlib.sha256(location.encode()).hexdigest()[:12]
