"""Where a fork restores from (DESIGN §3): the source's backups, a backup, or a point in time.

The source service may be gone: its backups remain in the catalog and in the object store. A point
in time must lie inside the recoverable window, and the error names the window when it does not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from controlplane.api.errors import invalid, not_found
from controlplane.api.models.services import ForkFrom
from controlplane.catalog import backups, services
from controlplane.catalog.models import Backup, Token


def resolve(session: Session, token: Token, project: str, fork_from: ForkFrom, cloud: str) -> dict[str, Any]:
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
        chosen = _for_time(session, source_project, fork_from.service, usable, target_time.astimezone(UTC))
    return {
        "project": source_project,
        "service": fork_from.service,
        "backup": fork_from.backup,
        "recovery_target_time": target_time.isoformat() if target_time else None,
        "stanza": chosen.stanza,
        "repo_path": chosen.repo_path,
        "region": chosen.region,
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


def _for_time(session: Session, project: str, service: str, usable: list[Backup], target: datetime) -> Backup:
    """The newest backup finished before `target`, if `target` is inside the recoverable window."""
    source = services.get_service(session, project=project, name=service)
    # WAL is archived continuously while the source runs; without it, nothing after its last backup.
    end = (
        datetime.now(UTC)
        if source is not None and source.state == "RUNNING"
        else (max(b.finished_at for b in usable if b.finished_at) if usable else None)
    )
    start = min((b.finished_at for b in usable if b.finished_at), default=None)
    if start is None or end is None or not start <= target <= end:
        window = f"{start.isoformat()} to {end.isoformat()}" if start and end else "empty (no succeeded backup)"
        raise invalid(
            "fork_from.recovery_target_time",
            f"{target.isoformat()} is outside the recoverable window of {service!r}: {window}",
        )
    return max((b for b in usable if b.finished_at and b.finished_at <= target), key=lambda b: b.finished_at or start)
