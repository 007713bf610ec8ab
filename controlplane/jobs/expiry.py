"""Deleting backups always works (docs/design.md): what pgBackRest cannot expire yet is expired later, automatically.

pgBackRest keeps the only full backup of a repository. A deleted backup leaves the catalog at once; when its
data cannot be expired yet, a deferred expiry remembers it, and it is expired after the next full backup of
the repository succeeds (`settle`), or removed with the whole stanza once the service is gone and no listed
backup needs that container any more (`purge`). A repository's copies in other regions (backup to another
region) go first, under the stanza's copy lock, so a copy pass never brings them back. Repositories are
named by their locations (controlplane/storage/stores.py): directories and S3 buckets alike.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import backups, expiries
from controlplane.catalog.db import transaction
from controlplane.engine.os_user import resolve_account
from controlplane.engine.pgbackrest import PgBackRestError
from controlplane.engine.pgbackrest_output import _LABEL
from controlplane.jobs.archiving import Archiving
from controlplane.settings import Settings
from controlplane.storage.repository_copy import listed_backups
from controlplane.storage.stores import StoreUnavailable, repositories_in

log = logging.getLogger(__name__)
_STANZA_PARTS = ("archive", "backup")  # pgBackRest keeps a stanza's objects under these two prefixes


class Expiries:
    def __init__(self, settings: Settings, archiving: Archiving) -> None:
        self._settings = settings
        self._archiving = archiving
        self._account = resolve_account(settings.os_user)

    def copies(self, project: str, container: str) -> list[str]:
        """Where `project`'s `container` is in every region: a repository and its copies in other regions."""
        return [self._archiving.location(region.name, project, container) for region in self._settings.regions]

    def expire(self, *, stanza: str, project: str, repo_path: str, container: str, label: str) -> list[str]:
        """Expire backup `label` and what depends on it from the repository at `repo_path` and its copies in
        other regions; the locations where pgBackRest must keep it for now (their only full backup), nothing
        done there.

        While the repository itself must keep it, its copies are left alone too: a copy pass would bring them
        back from it. A copy whose store cannot be reached now is among the locations returned.
        """
        with self._archiving.copy_lock(stanza):
            primary = self._archiving.repository_driver(stanza, repo_path)
            if not primary.expirable(repo=1, label=label):
                return [repo_path]
            waiting = []
            for copy in self.copies(project, container):
                if copy == repo_path:
                    continue
                try:
                    if label not in listed_backups(self._archiving.repository(copy), stanza):
                        continue
                except StoreUnavailable as exc:
                    log.warning("the expiry of %s in %s waits: %s", label, copy, exc)
                    waiting.append(copy)
                    continue
                driver = self._archiving.repository_driver(stanza, copy)
                if driver.expirable(repo=1, label=label):
                    driver.expire(repo=1, label=label)
                else:  # the copy lacks the newer full backup yet
                    waiting.append(copy)
            primary.expire(repo=1, label=label)
        return waiting

    def settle(self, sessions: sessionmaker[Session], stanza: str) -> None:
        """Carry out the stanza's deferred expiries that pgBackRest can do now (a newer full backup exists)."""
        with transaction(sessions) as session:
            owed = expiries.deferred_expiries(session, stanza=stanza)
            rows = [(e.id, e.service_id, e.project, e.repo_path, e.container, e.label) for e in owed]
        for expiry_id, service_id, project, repo_path, container, label in rows:
            try:
                waiting = self.expire(
                    stanza=stanza, project=project, repo_path=repo_path, container=container, label=label
                )
            except (PgBackRestError, StoreUnavailable) as exc:  # a store down: the next full backup tries again
                log.warning("deferred expiry of %s in %s failed, kept for later: %s", label, repo_path, exc)
                continue
            if repo_path in waiting:
                continue
            self._remove_unlisted(repo_path, stanza)
            log.info("deferred expiry of %s in %s done", label, repo_path)
            with transaction(sessions) as session:
                expiries.forget_expiry(session, expiry_id=expiry_id)
                self.defer(
                    session,
                    waiting,
                    service_id=service_id,
                    project=project,
                    stanza=stanza,
                    container=container,
                    label=label,
                )

    def _remove_unlisted(self, location: str, stanza: str) -> None:
        """Remove the backups a repository holds but no longer lists, begun before its newest listed one, as
        pgBackRest's own expire does: a copy whose region was down when a backup was deleted gets the source's
        `backup.info` (without it) from the next copy pass, and pgBackRest then finds nothing to expire there.

        A backup begun later may be one being taken or copied: it is left alone.
        """
        with self._archiving.copy_lock(stanza):
            repository = self._archiving.repository(location)
            listed = listed_backups(repository, stanza)
            if not listed:
                return
            newest = max(_begun(label) for label in listed)
            prefix = f"backup/{stanza}/"
            held = {item.key.removeprefix(prefix).split("/", 1)[0] for item in repository.list(prefix)}
            for label in sorted(held - set(listed)):
                if _LABEL.fullmatch(label) and _begun(label) < newest:
                    log.info("removing %s from %s: no longer listed there", label, location)
                    repository.remove(f"{prefix}{label}/")

    @staticmethod
    def defer(
        session: Session,
        locations: list[str],
        *,
        service_id: int | None,
        project: str,
        stanza: str,
        container: str,
        label: str,
    ) -> None:
        """Remember that `label` must still be expired from the repository at each of `locations` (see
        `settle`); `container` is the catalog's container of the backup, which they all hold."""
        for location in locations:
            expiries.defer_expiry(
                session,
                service_id=service_id,
                project=project,
                stanza=stanza,
                repo_path=location,
                container=container,
                label=label,
            )

    def purge(self, sessions: sessionmaker[Session], stanza: str, project: str) -> None:
        """The stanza's service (of `project`) is gone: remove the stanza from every repository, in every region,
        that no listed backup needs any more, and its configuration once none does.

        A listed backup of the project needs its container in every region (its copies); an import by another
        project needs the one repository it names. A region whose store cannot be reached keeps what it holds
        (logged): the stanza's configuration is kept with it.
        """
        with transaction(sessions) as session:
            listed = [(b.project, b.container, b.repo_path) for b in backups.backups_of_stanza(session, stanza=stanza)]
            owed = {e.id: e.container for e in expiries.deferred_expiries(session, stanza=stanza)}
        needed_containers = {container for owner, container, location in listed if owner == project and location}
        needed = {location for _, _, location in listed if location}
        needed |= {copy for container in needed_containers for copy in self.copies(project, container)}
        unreachable = []
        with self._archiving.copy_lock(stanza):
            for region in self._settings.regions:
                try:
                    for repository in repositories_in(self._settings, region, self._account, project=project):
                        if repository.location not in needed:
                            for part in _STANZA_PARTS:
                                repository.remove(f"{part}/{stanza}/")
                except StoreUnavailable as exc:
                    log.warning("stanza %s stays in region %s for now: %s", stanza, region.name, exc)
                    unreachable.append(region.name)
        with transaction(sessions) as session:
            for expiry_id, container in owed.items():
                if container not in needed_containers:
                    expiries.forget_expiry(session, expiry_id=expiry_id)
        if not needed and not unreachable:
            self._archiving.forget_stanza(stanza)
        log.info("stanza %s removed from the object stores (kept in: %s)", stanza, ", ".join(sorted(needed)) or "none")


def _begun(label: str) -> str:
    """When a backup began, as its label says (`<full>_<own start>I` for an incremental): sortable text."""
    return label.rsplit("_", 1)[-1][:-1]
