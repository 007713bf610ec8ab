"""How each engine's stanza is copied to a backup region (`engines.StanzaCopier`): pgBackRest's repository layout
(controlplane/storage/repository_copy.py) and mariabackup's with the binary log archive (jobs/mysql_copy.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass

from controlplane.engine.mariabackup import MANIFEST_NAME, backups_prefix
from controlplane.jobs import mysql_copy
from controlplane.jobs.engines import MYSQL, PG, CopyPlan, StanzaCopier
from controlplane.storage import repository_copy
from controlplane.storage.bandwidth import Bandwidth
from controlplane.storage.stores import Repository


@dataclass(frozen=True)
class _RunOptions:
    """How a copy runs: files at once, the event that cancels it, the cap of its target region."""

    workers: int
    cancel: threading.Event | None
    bandwidth: Bandwidth | None


class LayoutCopier:
    """Copies a stanza of one layout: `plan_copy` and `run_copy` are the layout's copy, `backups_prefix(stanza)`
    the key prefix of its backups, each of which holds the file `manifest` once it is complete."""

    def __init__(
        self,
        plan_copy: Callable[[Repository, Repository, str, Collection[str]], CopyPlan],
        run_copy: Callable[[CopyPlan, Repository, Repository, str, _RunOptions], None],
        backups_prefix: Callable[[str], str],
        manifest: str,
    ) -> None:
        self._plan_copy = plan_copy
        self._run_copy = run_copy
        self._backups_prefix = backups_prefix
        self._manifest = manifest

    def plan(self, source: Repository, target: Repository, stanza: str, *, known: Collection[str] = ()) -> CopyPlan:
        return self._plan_copy(source, target, stanza, known)

    def run(
        self,
        plan: CopyPlan,
        source: Repository,
        target: Repository,
        stanza: str,
        *,
        workers: int = 2,
        cancel: threading.Event | None = None,
        bandwidth: Bandwidth | None = None,
    ) -> None:
        self._run_copy(plan, source, target, stanza, _RunOptions(workers, cancel, bandwidth))

    def copied_labels(self, repository: Repository, stanza: str) -> set[str]:
        """The `<label>` of every `<prefix><label>/<manifest>` in `repository`."""
        prefix = self._backups_prefix(stanza)
        found = set()
        for item in repository.list(prefix):
            label, _, rest = item.key.removeprefix(prefix).partition("/")
            if rest == self._manifest:
                found.add(label)
        return found


def _run_pgbackrest_copy(plan: CopyPlan, source: Repository, target: Repository, stanza: str, run: _RunOptions) -> None:
    """A pgBackRest stanza: WAL and backups, then manifests, `backup.info` last."""
    assert isinstance(plan, repository_copy.CopyPlan), "a plan of this copier"
    repository_copy.run_copy(
        plan, source, target, stanza, workers=run.workers, cancel=run.cancel, bandwidth=run.bandwidth
    )


def _run_mariabackup_copy(
    plan: CopyPlan, source: Repository, target: Repository, stanza: str, run: _RunOptions
) -> None:
    """A mariabackup stanza: binary logs, then their index; each backup's data, then its manifest. Objects in
    order, one at a time (`run.workers` unused)."""
    assert isinstance(plan, mysql_copy.MySQLCopyPlan), "a plan of this copier"
    mysql_copy.run_mysql_copy(plan, source, target, stanza, cancel=run.cancel, bandwidth=run.bandwidth)


# Each engine's copier by service type: the engines name theirs, and the copy targets of a service (which the API
# reads too, without the engines) find theirs here.
COPIERS: dict[str, StanzaCopier] = {
    PG: LayoutCopier(
        lambda source, target, stanza, known: repository_copy.plan_copy(source, target, stanza, known=known),
        _run_pgbackrest_copy,
        repository_copy.stanza_backup_dir,
        repository_copy.MANIFESTS[-1],
    ),
    MYSQL: LayoutCopier(
        lambda source, target, stanza, known: mysql_copy.plan_mysql_copy(source, target, stanza, known=known),
        _run_mariabackup_copy,
        backups_prefix,
        MANIFEST_NAME,
    ),
}
