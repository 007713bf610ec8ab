"""What a backup request may ask for: naming, incremental chains (Trove) and containers (DESIGN §3)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from controlplane.catalog import backups
from controlplane.catalog.models import Backup
from controlplane.domain.errors import Conflict, Invalid

DEFAULT_CONTAINER = "default"


def generated_name() -> str:
    """NuoDB's default backup name: the creation time, yyyyMMddHHmmss in UTC."""
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def chain(
    session: Session, *, project: str, service: str, container: str, parent: str | None, incremental: bool
) -> tuple[str, str | None]:
    """The backup type and the name of the backup it chains on.

    pgBackRest chains an incremental on the newest backup of the repository, so the parent must be
    the latest backup of the container; otherwise the error names the one that can be used.
    """
    if parent is not None and incremental:
        raise Invalid("incremental", "give either parent (a named backup) or incremental = true, not both")
    if parent is None and not incremental:
        return "full", None
    latest = backups.latest_backup(
        session, project=project, service=service, container=container, states=("Succeeded", "Running", "Pending")
    )
    field = "parent" if parent is not None else "incremental"
    if latest is None:
        raise Invalid(
            field,
            f"there is no backup of {service!r} in container {container!r} to chain an "
            "incremental on: take a full backup first",
        )
    if latest.state != "Succeeded":
        raise Conflict(
            f"backup {latest.name!r} of {service!r} is still {latest.state}; "
            "an incremental can chain on it once it has succeeded",
            field,
        )
    if parent is not None and parent != latest.name:
        found = backups.get_backup(session, project=project, service=service, name=parent)
        if found is None:
            raise Invalid("parent", f"no backup named {parent!r} exists for {service!r}")
        raise Invalid(
            "parent",
            f"an incremental can only chain on the latest backup of container {container!r}, "
            f"which is {latest.name!r}, not {parent!r}; use parent = {latest.name!r} or take a full backup",
        )
    _check_chain_intact(latest)
    return "incr", latest.name


def _check_chain_intact(latest: Backup) -> None:
    if latest.verify_state == "failed":
        raise Invalid(
            "parent",
            f"backup {latest.name!r} failed verification ({latest.verify_message}); its data "
            "cannot be chained on: take a full backup",
        )
