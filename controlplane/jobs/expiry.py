"""Deleting backups always works (docs/design.md): what pgBackRest cannot expire yet is expired later, automatically.

pgBackRest keeps the only full backup of a repository. A deleted backup leaves the catalog at once; when its
data cannot be expired yet, a deferred expiry remembers it, and it is expired after the next full backup of
the repository succeeds (`settle`), or removed with the whole stanza once the service is gone and no listed
backup needs that container any more (`purge`). A repository's copies in other regions (backup to another
region) go first, under the stanza's copy lock, so a copy pass never brings them back.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog import backups, expiries
from controlplane.catalog.db import transaction
from controlplane.jobs.archiving import Archiving
from controlplane.storage.repository_copy import listed_backups

log = logging.getLogger(__name__)
_STANZA_PARTS = ("archive", "backup")  # pgBackRest keeps a stanza's objects under these two directories


class Expiries:
    def __init__(self, archiving: Archiving) -> None:
        self._archiving = archiving

    def expire(self, *, stanza: str, repo_path: Path, container: str, label: str) -> list[Path]:
        """Expire backup `label` and what depends on it from the repository and its copies in other regions;
        the repositories where pgBackRest must keep it for now (their only full backup), nothing done there.

        While the repository itself must keep it, its copies are left alone too: a copy pass would bring them
        back from it.
        """
        with self._archiving.copy_lock(stanza):
            primary = self._archiving.repository_driver(stanza, repo_path)
            if not primary.expirable(repo=1, label=label):
                return [repo_path]
            waiting = []
            for copy in self._archiving.container_paths(container):
                if copy == repo_path or label not in listed_backups(copy, stanza):
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
            waiting = self.expire(stanza=stanza, repo_path=Path(repo_path), container=container, label=label)
            if Path(repo_path) in waiting:
                continue
            log.info("deferred expiry of %s in %s done", label, repo_path)
            with transaction(sessions) as session:
                expiries.forget_expiry(session, expiry_id=expiry_id)
                self.defer(session, waiting, service_id=service_id, project=project, stanza=stanza, label=label)

    @staticmethod
    def defer(
        session: Session,
        repositories: list[Path],
        *,
        service_id: int | None,
        project: str,
        stanza: str,
        label: str,
    ) -> None:
        """Remember that `label` must still be expired from each of `repositories` (see `settle`)."""
        for repository in repositories:
            expiries.defer_expiry(
                session,
                service_id=service_id,
                project=project,
                stanza=stanza,
                repo_path=str(repository),
                container=repository.name,
                label=label,
            )

    def purge(self, sessions: sessionmaker[Session], stanza: str) -> None:
        """The stanza's service is gone: remove the stanza from every container (in every region) that no
        listed backup needs any more, and its configuration once none does."""
        with transaction(sessions) as session:
            needed = {Path(b.repo_path).name for b in backups.backups_of_stanza(session, stanza=stanza) if b.repo_path}
            owed = {e.id: e.container for e in expiries.deferred_expiries(session, stanza=stanza)}
        with self._archiving.copy_lock(stanza):
            for container in self._archiving.containers():
                if container.name in needed:
                    continue
                for part in _STANZA_PARTS:
                    _remove(container / part / stanza)
        with transaction(sessions) as session:
            for expiry_id, container_name in owed.items():
                if container_name not in needed:
                    expiries.forget_expiry(session, expiry_id=expiry_id)
        if not needed:
            self._archiving.forget_stanza(stanza)
        log.info("stanza %s removed from the object stores (kept in: %s)", stanza, ", ".join(sorted(needed)) or "none")


def _remove(path: Path) -> None:
    """Remove a directory tree without following a symbolic link planted in it (or as it)."""
    if path.is_symlink():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
