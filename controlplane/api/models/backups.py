"""Request and response bodies of backups and backup strategies (DESIGN §2, §4)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

BackupName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", description="Default: the creation time as yyyyMMddHHmmss (UTC)."
    ),
]
ContainerName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,62}$",
        description="An object-store container (a directory of the region's store).",
    ),
]
# Label keys as Kubernetes names them; values of printable text. Labels end up in `GET …?label=k=v`
# filters, logs and the provider's state, where a control character or a 1 MiB key has no business.
LABEL_KEY = re.compile(r"[a-z0-9A-Z]([a-z0-9A-Z._/-]{0,61}[a-z0-9A-Z])?")
LABEL_VALUE_MAX = 256
LABELS_MAX = 64
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels, if every key and value follows the rule; the error names the first one that does not."""
    for key, value in labels.items():
        if not LABEL_KEY.fullmatch(key):
            raise ValueError(
                f"key {key[:80]!r} is not a label key (letters and digits at both ends, '.', '_', '/', '-' "
                "between; at most 63 characters)"
            )
        if len(value) > LABEL_VALUE_MAX:
            raise ValueError(f"the value of {key!r} is longer than {LABEL_VALUE_MAX} characters")
        if _CONTROL.search(value):
            raise ValueError(f"the value of {key!r} holds a control character")
    return labels


# The whole map is checked by one validator, so that every error names the field `labels` itself.
Labels = Annotated[
    dict[str, str],
    AfterValidator(check_labels),
    Field(
        max_length=LABELS_MAX,
        description=f"At most {LABELS_MAX}; keys as Kubernetes label keys, values of at most {LABEL_VALUE_MAX}.",
    ),
]


class ImportSource(BaseModel):
    """An existing backup to register without owning its data (NuoDB import, Trove --restore-from)."""

    model_config = ConfigDict(extra="forbid")

    backup_handle: Annotated[str, Field(min_length=1, max_length=1024)] = Field(
        description="pgbackrest:<repository path>#<stanza>/<backup label>"
    )
    backup_plugin: Annotated[str, Field(min_length=1, max_length=32)] = "pgbackrest"


class BackupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: BackupName | None = None
    description: Annotated[str, Field(max_length=1024)] = ""
    labels: Labels = Field(default_factory=dict)
    parent: BackupName | None = Field(default=None, description="An earlier backup to chain an incremental on.")
    incremental: bool = Field(default=False, description="Incremental on the latest backup of the container.")
    container: ContainerName | None = None
    import_source: ImportSource | None = None


class BackupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Annotated[str, Field(max_length=1024)] | None = None
    labels: Labels | None = None


class Replica(BaseModel):
    """The backup's copy in an additional backup region."""

    region: str
    state: str  # Pending, Replicating, Succeeded or Failed
    state_message: str | None
    replicated_at: datetime | None


class RecoveryWindow(BaseModel):
    start: datetime | None
    end: datetime | None


class RestoreTest(BaseModel):
    """The last restore test of a backup: restored into a scratch server, started and checked."""

    state: str = Field(description="running, passed or failed")
    tested_at: datetime | None = Field(description="when the test started")
    duration_seconds: float | None = Field(description="how long the restore and the checks took")
    message: str | None = Field(description="what failed, or what was checked")


class BackupPublic(BaseModel):
    project: str
    service: str
    name: str
    description: str
    labels: dict[str, str]
    parent: str | None
    incremental: bool
    type: str = Field(description="full or incremental")
    container: str
    import_source: ImportSource | None
    state: str = Field(description="Pending, Running, Succeeded or Failed")
    state_message: str | None
    ready_to_use: bool
    size_bytes: int | None
    backup_handle: str | None
    backup_plugin: str
    region: str
    started_at: datetime | None
    finished_at: datetime | None
    recovery_window: RecoveryWindow
    replicas: list[Replica]
    verify_state: str | None
    verify_message: str | None
    verified_at: datetime | None
    last_restore_test: RestoreTest | None
    created_at: datetime


class BackupList(BaseModel):
    backups: list[BackupPublic]
    next_page_token: str | None = Field(default=None, description="The token of the next page; null on the last.")


class Retention(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_count: Annotated[int, Field(ge=1, le=1000)] | None = None
    days: Annotated[int, Field(ge=1, le=36500)] | None = None


class StrategyPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    container: ContainerName
    schedule: Annotated[str, Field(max_length=128)] | None = Field(
        default=None, description="A cron expression for scheduled full backups, e.g. `0 3 * * *`."
    )
    retention: Retention | None = None
    restore_test_schedule: Annotated[str, Field(max_length=128)] | None = Field(
        default=None,
        description="A cron expression: when it fires, the newest backup of each service in scope is "
        "restore-tested, e.g. `0 5 * * 0`.",
    )


class StrategyPublic(StrategyPut):
    project: str
    service: str | None
    created_at: datetime
    updated_at: datetime
