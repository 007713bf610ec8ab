"""Where a fork restores from (DESIGN §3): the source's backups, a backup, or a point in time.

The source service may be gone: its backups remain in the catalog and in the object store. A fork
whose `cloud` is a region holding copies of the source's backups (backup to another region) restores
from those copies, else from the primary. A point in time must lie inside that region's recoverable
window, and the error names the window when it does not.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from controlplane.api.errors import invalid, not_found
from controlplane.api.models.services import ForkFrom
from controlplane.catalog import backups, replication, services
from controlplane.catalog.models import Backup, Service, Token
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.replicator import copy_targets
from controlplane.settings import Settings
from controlplane.storage.repository_copy import plan_copy


def resolve(
    session: Session, token: Token, project: str, fork_from: ForkFrom, cloud: str, settings: Settings
) -> dict[str, Any]:
    """The fork's plan, stored on the new service and carried out by the fork job."""
    source_project = fork_from.project or project
    if token.project is not None and token.project != source_project:
        raise not_found(f"project {source_project!r}", "fork_from.project")
    if fork_from.backup is not None and fork_from.recovery_target_time is not None:
        raise invalid("fork_from.recovery_target_time", "give either a backup or a recovery_target_time, not both")
    usable = [
        b
        for b in backups.list_backups(session, project=source_project, service=fork_from.service, states=("Succeeded",))
        if b.label and b.repo_path and b.stanza
    ]
    copies = _copies(session, usable, cloud)
    if copies and cloud not in {b.region for b in usable}:
        if fork_from.backup is not None and _named(session, source_project, fork_from, usable).id not in copies:
            raise invalid(
                "fork_from.backup",
                f"backup {fork_from.backup!r} has no finished copy in {cloud!r} yet; fork it in its own region "
                "or wait for the copy (see the backup's replicas)",
            )
        usable = [b for b in usable if b.id in copies]
    else:
        copies = {}
    source = services.get_service(session, project=source_project, name=fork_from.service)
    if fork_from.backup is not None:
        chosen = _named(session, source_project, fork_from, usable)
    elif not usable:
        raise invalid(
            "fork_from.service",
            f"service {fork_from.service!r} of project {source_project!r} has no succeeded backup to restore from",
        )
    else:
        chosen = usable[-1]
    target_time = fork_from.recovery_target_time
    if target_time is not None:
        end = _window_end(settings, session, source, usable, cloud if copies else None)
        chosen = _for_time(fork_from.service, usable, target_time.astimezone(UTC), end)
    return {
        "project": source_project,
        "service": fork_from.service,
        "backup": fork_from.backup,
        "recovery_target_time": target_time.isoformat() if target_time else None,
        "stanza": chosen.stanza,
        "repo_path": copies.get(chosen.id, chosen.repo_path),
        "region": cloud if copies else chosen.region,
        # pgBackRest picks the backup set itself for a point in time and for the latest transaction.
        "label": chosen.label if fork_from.backup is not None else None,
        "backup_name": chosen.name,
        "backup_finished_at": chosen.finished_at.isoformat() if chosen.finished_at else None,
        "cloud": cloud,
    }


def _named(session: Session, project: str, fork_from: ForkFrom, usable: list[Backup]) -> Backup:
    found = backups.get_backup(session, project=project, service=fork_from.service, name=str(fork_from.backup))
    if found is None:
        raise not_found(f"backup {fork_from.backup!r} of service {fork_from.service!r}", "fork_from.backup")
    if found.verify_state == "failed":
        raise invalid(
            "fork_from.backup",
            f"backup {found.name!r} failed verification ({found.verify_message}); it cannot be restored",
        )
    if found not in usable:
        raise invalid(
            "fork_from.backup", f"backup {found.name!r} is {found.state}; only a Succeeded backup can be restored"
        )
    return found


def _copies(session: Session, usable: list[Backup], region: str) -> dict[int, str]:
    """The usable backups that have a finished copy in `region`: backup id → the copy's repository."""
    found = replication.replicas_of(session, backup_ids=[b.id for b in usable])
    return {
        backup_id: replica.repo_path
        for backup_id, replicas in found.items()
        for replica in replicas
        if replica.region == region and replica.state == "Succeeded"
    }


def _window_end(
    settings: Settings, session: Session, source: Service | None, usable: list[Backup], copy_region: str | None
) -> datetime | None:
    """The newest recoverable time: WAL is archived continuously while the source runs (and copied with
    the region's current lag); without it, nothing after its last backup."""
    last_backup = max((b.finished_at for b in usable if b.finished_at), default=None)
    if source is None or source.state != "RUNNING":
        return last_backup
    if copy_region is None:
        return datetime.now(UTC)
    targets = [t for t in copy_targets(settings, Archiving(settings), session, source) if t.region == copy_region]
    if not targets:  # copying stopped: the copy holds what it had
        return last_backup
    now = time.time()
    pending = [p for t in targets if (p := plan_copy(t.source, t.target, t.stanza).oldest_pending()) is not None]
    return datetime.fromtimestamp(min(pending) if pending else now, UTC)


def _for_time(service: str, usable: list[Backup], target: datetime, end: datetime | None) -> Backup:
    """The newest backup finished before `target`, if `target` is inside the recoverable window."""
    start = min((b.finished_at for b in usable if b.finished_at), default=None)
    if start is None or end is None or not start <= target <= end:
        window = f"{start.isoformat()} to {end.isoformat()}" if start and end else "empty (no succeeded backup)"
        raise invalid(
            "fork_from.recovery_target_time",
            f"{target.isoformat()} is outside the recoverable window of {service!r}: {window}",
        )
    return max((b for b in usable if b.finished_at and b.finished_at <= target), key=lambda b: b.finished_at or start)
