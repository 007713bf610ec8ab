"""Where a fork restores from (DESIGN §3): the source's backups, a backup, or a point in time.

The source service may be gone: its backups remain in the catalog and in the object store. A fork
whose `cloud` is a region holding copies of the source's backups (backup to another region) restores
from those copies, else from the primary. A point in time must lie inside that region's recoverable
window, and the error names the window when it does not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.orm import Session

from controlplane.catalog import backups, replication, services
from controlplane.catalog.models import Backup, Service
from controlplane.catalog.tokens import Caller
from controlplane.domain.errors import Invalid, NotFound
from controlplane.domain.validation import PLUGIN_ENGINES
from controlplane.fork_plan import ForkPlan, ForkRequest, RestoreInstructions
from controlplane.settings import Settings
from controlplane.storage.stores import location_of


class ForkSource(Protocol):
    """What a fork asks to restore (the API's `fork_from`): read here, never changed."""

    @property
    def project(self) -> str | None: ...
    @property
    def service(self) -> str: ...
    @property
    def backup(self) -> str | None: ...
    @property
    def recovery_target_time(self) -> datetime | None: ...


def resolve(
    session: Session,
    token: Caller,
    project: str,
    fork_from: ForkSource,
    cloud: str,
    settings: Settings,
    *,
    service_type: str | None = None,
) -> tuple[ForkPlan, str]:
    """The fork's plan, stored on the new service and carried out by the fork job, and the fork's `service_type`:
    its source's (its backups' plugin says which), which a `service_type` given must match."""
    source_project = fork_from.project or project
    if token.project is not None and token.project != source_project:
        raise NotFound(f"project {source_project!r}", "fork_from.project")
    if fork_from.backup is not None and fork_from.recovery_target_time is not None:
        raise Invalid("fork_from.recovery_target_time", "give either a backup or a recovery_target_time, not both")
    requested_at = datetime.now(UTC)
    target_time = fork_from.recovery_target_time.astimezone(UTC) if fork_from.recovery_target_time else None
    usable = [
        b
        for b in backups.list_backups(session, project=source_project, service=fork_from.service, states=("Succeeded",))
        if b.label and b.repo_path and b.stanza
    ]
    source = services.get_service(session, project=source_project, name=fork_from.service)
    copies = _copy_repositories(settings, session, source, usable, cloud)
    if copies:
        if fork_from.backup is not None and _named(session, source_project, fork_from, usable).id not in copies:
            raise Invalid(
                "fork_from.backup",
                f"backup {fork_from.backup!r} has no copy in {cloud!r}; fork it in its own region ({usable[0].region})",
            )
        usable = [b for b in usable if b.id in copies]
    if fork_from.backup is not None:
        chosen = _named(session, source_project, fork_from, usable)
    elif not usable:
        raise Invalid(
            "fork_from.service",
            f"service {fork_from.service!r} of project {source_project!r} has no succeeded backup to restore from",
        )
    else:
        chosen = usable[-1]
    engine = PLUGIN_ENGINES.get(chosen.backup_plugin, "pg")
    if service_type is not None and engine != service_type:
        raise Invalid(
            "service_type",
            f"service {fork_from.service!r} is of service_type {engine!r}: a fork of it must be {engine!r} too",
        )
    if fork_from.backup is None and target_time is None and source is not None and source.archive_gap:
        # Recovery would stop at the gap and promote: the fork would silently miss what came after it.
        raise Invalid(
            "fork_from.service",
            f"service {fork_from.service!r} cannot be forked at its latest transaction: {source.archive_gap}; "
            "fork one of its backups or a point in time before the gap, or take a full backup first",
        )
    if target_time is not None:
        chosen = _for_time(
            fork_from.service, usable, target_time, _window_end(source, usable, requested_at), requested_at
        )
    plan = ForkPlan(
        request=ForkRequest(
            project=source_project,
            service=fork_from.service,
            backup=fork_from.backup,
            recovery_target_time=target_time,
            requested_at=requested_at,
        ),
        instructions=RestoreInstructions(
            stanza=str(chosen.stanza),
            repo_path=copies.get(chosen.id, str(chosen.repo_path)),
            region=cloud if copies else chosen.region,
            copy_of=chosen.repo_path if copies else None,
            # Only a running source has WAL that may not have reached the archive yet.
            source_service_id=source.id
            if source is not None and source.state == "RUNNING" and chosen.service_id == source.id
            else None,
            # pgBackRest picks the backup set itself for a point in time and for the latest transaction.
            label=chosen.label if fork_from.backup is not None else None,
            backup_name=chosen.name,
            backup_finished_at=chosen.finished_at,
        ),
    )
    return plan, engine


def _named(session: Session, project: str, fork_from: ForkSource, usable: list[Backup]) -> Backup:
    found = backups.get_backup(session, project=project, service=fork_from.service, name=str(fork_from.backup))
    if found is None:
        raise NotFound(f"backup {fork_from.backup!r} of service {fork_from.service!r}", "fork_from.backup")
    if found.verify_state == "failed":
        raise Invalid(
            "fork_from.backup",
            f"backup {found.name!r} failed verification ({found.verify_message}); it cannot be restored",
        )
    if found not in usable:
        raise Invalid(
            "fork_from.backup", f"backup {found.name!r} is {found.state}; only a Succeeded backup can be restored"
        )
    return found


def _copy_repositories(
    settings: Settings, session: Session, source: Service | None, usable: list[Backup], cloud: str
) -> dict[int, str]:
    """Where each backup's copy in `cloud` is, when the fork restores from copies there (else empty).

    That is when `cloud` is one of the source's additional backup regions (copies being made) or holds
    finished copies (the source is gone, or copying was turned off since).
    """
    if not usable or cloud in {b.region for b in usable}:
        return {}
    found = replication.replicas_of(session, backup_ids=[b.id for b in usable])
    done = {
        backup_id: replica.repo_path
        for backup_id, replicas in found.items()
        for replica in replicas
        if replica.region == cloud and replica.state == "Succeeded"
    }
    region = settings.region(cloud)
    copying = source is not None and cloud in (source.user_config or {}).get("additional_backup_regions", [])
    if source is None or not copying or region is None:
        return done
    # Imported backups are not ours to copy: only finished copies of them count. The copies are where the
    # replicator puts them: the source project's container in that region.
    return {
        b.id: done.get(b.id, location_of(region, source.project, b.container))
        for b in usable
        if b.owned or b.id in done
    }


def _window_end(source: Service | None, usable: list[Backup], now: datetime) -> datetime | None:
    """Up to now while the source runs: the fork job makes its WAL reach the archive first. Without it, what
    it archived: up to its deletion (which archives everything first), else nothing after its last backup."""
    if source is not None and source.archive_gap_until is not None:
        return source.archive_gap_until  # nothing after a gap in the archive can be reached
    if source is not None and source.state == "RUNNING":
        return now
    ends = [b.recovery_window_end or b.finished_at for b in usable]
    return max((end for end in ends if end is not None), default=None)


def _for_time(service: str, usable: list[Backup], target: datetime, end: datetime | None, now: datetime) -> Backup:
    """The newest backup finished before `target`, if `target` is inside the recoverable window."""
    start = min((b.finished_at for b in usable if b.finished_at), default=None)
    if start is None or end is None or not start <= target <= end:
        window = f"{start.isoformat()} to {end.isoformat()}" if start and end else "empty (no succeeded backup)"
        future = f" (it is in the future: it is {now.isoformat()} now)" if target > now else ""
        raise Invalid(
            "fork_from.recovery_target_time",
            f"{target.isoformat()} is outside the recoverable window of {service!r}{future}: {window}",
        )
    return max((b for b in usable if b.finished_at and b.finished_at <= target), key=lambda b: b.finished_at or start)
