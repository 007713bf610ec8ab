"""A fork's plan, stored on the new service (`services.fork_from`): what was asked, how to do it, what came of it.

Three parts kept apart, each written once: the `request` by the API as the user gave it (times in UTC), the
`instructions` by the fork rules in domain/forks.py (which repository, stanza and backup the job restores),
and the `result` by the fork job once the fork runs (what it actually recovered to). Datetimes stay aware UTC
datetimes all the way down; the JSON document is only their storage.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict


def _utc(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("a datetime of a fork plan must carry its time zone")
    return value.astimezone(UTC)


UTCDatetime = Annotated[datetime, AfterValidator(_utc)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ForkRequest(_Part):
    """What the user asked for (`fork_from`), with the source's project filled in."""

    project: str
    service: str
    backup: str | None = None
    recovery_target_time: UTCDatetime | None = None
    requested_at: UTCDatetime

    @property
    def latest(self) -> bool:
        """A fork at the latest transaction: neither a backup nor a point in time was named."""
        return self.backup is None and self.recovery_target_time is None


class RestoreInstructions(_Part):
    """What the fork job restores: a pgBackRest repository and stanza, and which backup set of it."""

    stanza: str
    repo_path: str
    region: str
    # The source's own repository when `repo_path` is its copy in a backup region: the job first makes
    # that copy catch up with it.
    copy_of: str | None = None
    # The source service's row, while it exists: the job makes its WAL reach the archive first.
    source_service_id: int | None = None
    # pgBackRest's label of the backup to restore exactly; None lets pgBackRest pick the set itself (the
    # latest transaction, a point in time).
    label: str | None = None
    backup_name: str
    backup_finished_at: UTCDatetime | None = None


class RestoredFrom(_Part):
    """What the fork recovered to: the backup when one was named, where, and the last commit replayed."""

    backup: str | None
    region: str
    recovery_time: UTCDatetime | None


class ForkPlan(_Part):
    """The whole plan as stored on the fork's service row."""

    request: ForkRequest
    instructions: RestoreInstructions
    result: RestoredFrom | None = None

    @classmethod
    def load(cls, document: dict[str, Any]) -> ForkPlan:
        """The plan stored in `services.fork_from`."""
        return cls.model_validate(document)

    def dump(self) -> dict[str, Any]:
        """The JSON document stored in `services.fork_from`."""
        return self.model_dump(mode="json")
