"""How each engine's stanza is copied to a backup region (`engines.StanzaCopier`): pgBackRest's repository layout
(controlplane/storage/repository_copy.py) and mariabackup's with the binary log archive (jobs/mysql_copy.py)."""

from __future__ import annotations

import threading
from collections.abc import Collection

from controlplane.engine.mariabackup import MANIFEST_NAME, backups_prefix
from controlplane.jobs import mysql_copy
from controlplane.jobs.engines import MYSQL, PG, CopyPlan, StanzaCopier
from controlplane.storage import repository_copy
from controlplane.storage.stores import Repository


def _labels_with_manifest(repository: Repository, prefix: str, manifest: str) -> set[str]:
    """The `<label>` of every `<prefix><label>/<manifest>` in `repository`."""
    found = set()
    for item in repository.list(prefix):
        label, _, rest = item.key.removeprefix(prefix).partition("/")
        if rest == manifest:
            found.add(label)
    return found


class PgBackRestCopier:
    """A pgBackRest stanza: WAL and backups, then manifests, `backup.info` last."""

    def plan(self, source: Repository, target: Repository, stanza: str, *, known: Collection[str] = ()) -> CopyPlan:
        return repository_copy.plan_copy(source, target, stanza, known=known)

    def run(
        self,
        plan: CopyPlan,
        source: Repository,
        target: Repository,
        stanza: str,
        *,
        workers: int = 2,
        cancel: threading.Event | None = None,
    ) -> None:
        assert isinstance(plan, repository_copy.CopyPlan), "a plan of this copier"
        repository_copy.run_copy(plan, source, target, stanza, workers=workers, cancel=cancel)

    def copied_labels(self, repository: Repository, stanza: str) -> set[str]:
        return _labels_with_manifest(repository, f"backup/{stanza}/", "backup.manifest")


class MariabackupCopier:
    """A mariabackup stanza: binary logs, then their index; each backup's data, then its manifest."""

    def plan(self, source: Repository, target: Repository, stanza: str, *, known: Collection[str] = ()) -> CopyPlan:
        return mysql_copy.plan_mysql_copy(source, target, stanza, known=known)

    def run(
        self,
        plan: CopyPlan,
        source: Repository,
        target: Repository,
        stanza: str,
        *,
        workers: int = 2,
        cancel: threading.Event | None = None,
    ) -> None:
        assert isinstance(plan, mysql_copy.MySQLCopyPlan), "a plan of this copier"
        mysql_copy.run_mysql_copy(plan, source, target, stanza, cancel=cancel)  # objects in order, one at a time

    def copied_labels(self, repository: Repository, stanza: str) -> set[str]:
        return _labels_with_manifest(repository, backups_prefix(stanza), MANIFEST_NAME)


# Each engine's copier by service type: the engines name theirs, and the copy targets of a service (which the API
# reads too, without the engines) find theirs here.
COPIERS: dict[str, StanzaCopier] = {PG: PgBackRestCopier(), MYSQL: MariabackupCopier()}
