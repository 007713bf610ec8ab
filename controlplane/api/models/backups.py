"""Request and response bodies of backups and backup strategies (DESIGN §2, §4)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from controlplane.domain.backups import BACKUP_NAME_PATTERN

BackupName = Annotated[
    str,
    Field(pattern=BACKUP_NAME_PATTERN, description="Default: the creation time as yyyyMMddHHmmss (UTC)."),
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
EXAMPLE_TIME = "2026-11-30T03:00:00Z"


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
        description="pgbackrest:<repository path>#<stanza>/<backup label>, or mariabackup:… for a mysql service's",
        examples=["pgbackrest:/srv/dbaas/store/local-east/default#acme-orders/20261130-030000F"],
    )
    backup_plugin: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        default="pgbackrest",
        description="The program that made the backup: pgbackrest, or mariabackup (mysql services).",
        examples=["pgbackrest"],
    )


class BackupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: BackupName | None = Field(
        default=None,
        description="Unique in the service. Default: the creation time as yyyyMMddHHmmss (UTC).",
        examples=["nightly"],
    )
    description: Annotated[str, Field(max_length=1024)] = Field(
        default="", description="Free text, at most 1024 characters.", examples=["before the schema migration"]
    )
    labels: Labels = Field(default_factory=dict, examples=[{"team": "payments"}])
    parent: BackupName | None = Field(
        default=None, description="An earlier backup to chain an incremental on.", examples=["nightly"]
    )
    incremental: bool = Field(
        default=False, description="Incremental on the latest backup of the container.", examples=[False]
    )
    container: ContainerName | None = Field(
        default=None,
        description="Where the backup goes. Default: the service's strategy's, the project's, or `default`.",
        examples=["default"],
    )
    import_source: ImportSource | None = Field(
        default=None,
        description="Register this existing backup instead of taking one (PUT only).",
        examples=[None],
    )


class BackupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: Annotated[str, Field(max_length=1024)] | None = Field(
        default=None, description="The new description; absent: unchanged.", examples=["kept for the audit"]
    )
    labels: Labels | None = Field(
        default=None, description="The new labels, replacing all; absent: unchanged.", examples=[{"team": "payments"}]
    )


class Replica(BaseModel):
    """The backup's copy in an additional backup region."""

    region: str = Field(description="The additional backup region.", examples=["local-west"])
    state: str = Field(description="Pending, Replicating, Succeeded or Failed", examples=["Succeeded"])
    state_message: str | None = Field(description="Why the copy failed; null otherwise.", examples=[None])
    replicated_at: datetime | None = Field(
        description="When the copy was complete; null before.", examples=[EXAMPLE_TIME]
    )


class RecoveryWindow(BaseModel):
    """The times a fork from this backup can recover to."""

    start: datetime | None = Field(
        description="The earliest: the end of the backup; null before.", examples=[EXAMPLE_TIME]
    )
    end: datetime | None = Field(
        description="The latest, as far as the WAL archive reaches; null: up to now.", examples=[None]
    )


class RestoreTest(BaseModel):
    """The last restore test of a backup: restored into a scratch server, started and checked."""

    state: str = Field(description="running, passed or failed", examples=["passed"])
    tested_at: datetime | None = Field(description="when the test started", examples=[EXAMPLE_TIME])
    duration_seconds: float | None = Field(description="how long the restore and the checks took", examples=[4.2])
    message: str | None = Field(
        description="what failed, or what was checked", examples=["3 databases connected, pg_amcheck clean"]
    )


class BackupPublic(BaseModel):
    project: str = Field(description="The service's project.", examples=["acme"])
    service: str = Field(description="The service backed up.", examples=["orders"])
    name: str = Field(description="The backup's name, unique in the service.", examples=["nightly"])
    description: str = Field(description="Free text.", examples=["before the schema migration"])
    labels: dict[str, str] = Field(description="The backup's labels.", examples=[{"team": "payments"}])
    parent: str | None = Field(description="The backup an incremental chains on; null for a full.", examples=[None])
    incremental: bool = Field(description="Whether the backup is incremental.", examples=[False])
    type: str = Field(description="full or incremental", examples=["full"])
    container: str = Field(description="The container the backup is in; never changes.", examples=["default"])
    import_source: ImportSource | None = Field(
        description="What an imported backup was registered from; null for one taken here.", examples=[None]
    )
    state: str = Field(description="Pending, Running, Succeeded or Failed", examples=["Succeeded"])
    state_message: str | None = Field(
        description="Why it failed, or `deleting` while it is being deleted; null otherwise.", examples=[None]
    )
    ready_to_use: bool = Field(
        description="Succeeded, and neither its verification nor its last restore test failed.", examples=[True]
    )
    size_bytes: int | None = Field(description="The database's size in the backup; null before.", examples=[31457280])
    backup_handle: str | None = Field(
        description="pgbackrest:<repository path>#<stanza>/<backup label>; null before it is taken.",
        examples=["pgbackrest:/srv/dbaas/store/local-east/default#acme-orders/20261130-030000F"],
    )
    backup_plugin: str = Field(description="The program that made the backup.", examples=["pgbackrest"])
    region: str = Field(description="The region whose store holds the backup.", examples=["local-east"])
    started_at: datetime | None = Field(description="When pgBackRest started it; null before.", examples=[EXAMPLE_TIME])
    finished_at: datetime | None = Field(
        description="When pgBackRest finished it; null before.", examples=[EXAMPLE_TIME]
    )
    recovery_window: RecoveryWindow = Field(
        description="From when to when a fork from this backup can recover.", examples=[{"start": EXAMPLE_TIME}]
    )
    replicas: list[Replica] = Field(
        description="Its copies in the service's additional backup regions.",
        examples=[
            [{"region": "local-west", "state": "Succeeded", "state_message": None, "replicated_at": EXAMPLE_TIME}]
        ],
    )
    verify_state: str | None = Field(description="passed or failed; null if never verified.", examples=["passed"])
    verify_message: str | None = Field(
        description="What the last verification found missing or altered.", examples=[None]
    )
    verified_at: datetime | None = Field(description="When it was last verified.", examples=[EXAMPLE_TIME])
    last_restore_test: RestoreTest | None = Field(
        description="The last restore test; null if never tested.", examples=[None]
    )
    created_at: datetime = Field(description="When the backup was requested.", examples=[EXAMPLE_TIME])


class BackupList(BaseModel):
    backups: list[BackupPublic] = Field(description="A page of backups, oldest first.", examples=[[]])
    next_page_token: str | None = Field(
        default=None, description="The token of the next page; null on the last.", examples=["WyIyMDI2LTExLTMwIiwgN10"]
    )


class Retention(BaseModel):
    """How long backups stay: both limits apply when both are given."""

    model_config = ConfigDict(extra="forbid")

    full_count: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        default=None, description="How many full backups are kept (1 to 1000).", examples=[7]
    )
    days: Annotated[int, Field(ge=1, le=36500)] | None = Field(
        default=None, description="How many days a backup is kept (1 to 36500).", examples=[30]
    )


class StrategyPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    container: ContainerName = Field(
        description="The container of new backups in scope (a directory of the region's store).", examples=["nightly"]
    )
    schedule: Annotated[str, Field(max_length=128)] | None = Field(
        default=None,
        description="A cron expression for scheduled full backups, e.g. `0 3 * * *`.",
        examples=["0 3 * * *"],
    )
    retention: Retention | None = Field(
        default=None, description="How long backups stay; null: for ever.", examples=[{"full_count": 7}]
    )
    restore_test_schedule: Annotated[str, Field(max_length=128)] | None = Field(
        default=None,
        description="A cron expression: when it fires, the newest backup of each service in scope is "
        "restore-tested, e.g. `0 5 * * 0`.",
        examples=["0 5 * * 0"],
    )


class StrategyPublic(StrategyPut):
    project: str = Field(description="The strategy's project.", examples=["acme"])
    service: str | None = Field(description="The service it is for; null for the project's.", examples=[None])
    created_at: datetime = Field(description="When the strategy was made.", examples=[EXAMPLE_TIME])
    updated_at: datetime = Field(description="When it last changed.", examples=[EXAMPLE_TIME])
