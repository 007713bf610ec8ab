"""The control plane's answers as the client hands them on: typed views of its JSON (controlplane/api/models),
named as the API names them. Times stay RFC 3339 text, as Terraform shows them.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class UserConfig(TypedDict):
    additional_backup_regions: list[str]


class ForkFrom(TypedDict):
    project: str | None
    service: str
    backup: str | None
    recovery_target_time: str | None


class RestoredFrom(TypedDict):
    backup: str | None
    region: str
    recovery_time: str | None


class Service(TypedDict):
    """A service or a fork (`fork_from` set)."""

    project: str
    name: str
    service_type: str
    version: str
    cloud: str
    plan: str
    user_config: UserConfig
    termination_protection: bool
    state: str
    state_message: str | None
    host: str | None
    port: int | None
    username: str
    password: str
    uri: str | None
    created_at: str
    updated_at: str
    fork_from: ForkFrom | None
    restored_from: RestoredFrom | None


class Retention(TypedDict):
    """Either or both; the control plane answers both, a request may name one."""

    full_count: NotRequired[int | None]
    days: NotRequired[int | None]


class StrategyPut(TypedDict):
    """The body of a strategy's PUT (what is absent is null)."""

    container: str
    schedule: NotRequired[str | None]
    restore_test_schedule: NotRequired[str | None]
    retention: NotRequired[Retention | None]


class Strategy(TypedDict):
    container: str
    schedule: str | None
    restore_test_schedule: str | None
    retention: Retention | None
    project: str
    service: str | None
    created_at: str
    updated_at: str


class ServiceTypeOffer(TypedDict):
    name: str
    versions: list[str]  # oldest first; the last is the default


class Region(TypedDict):
    """A region and what a service there may be: its `plan`, its `service_type` and that type's `version`."""

    name: str
    description: str
    plans: list[str]
    service_types: list[ServiceTypeOffer]


class ImportSource(TypedDict):
    backup_handle: str
    backup_plugin: str


class RecoveryWindow(TypedDict):
    start: str | None
    end: str | None


class Replica(TypedDict):
    region: str
    state: str
    state_message: str | None
    replicated_at: str | None


class RestoreTest(TypedDict):
    state: str
    tested_at: str | None
    duration_seconds: float | None
    message: str | None


class Backup(TypedDict):
    project: str
    service: str
    name: str
    description: str
    labels: dict[str, str]
    parent: str | None
    incremental: bool
    type: str
    container: str
    import_source: ImportSource | None
    state: str
    state_message: str | None
    ready_to_use: bool
    size_bytes: int | None
    backup_handle: str | None
    backup_plugin: str
    region: str
    started_at: str | None
    finished_at: str | None
    recovery_window: RecoveryWindow
    replicas: list[Replica]
    verify_state: str | None
    verify_message: str | None
    verified_at: str | None
    last_restore_test: RestoreTest | None
    created_at: str


class BackupRequest(TypedDict, total=False):
    """The body of a backup's POST or PUT (what is absent, the control plane decides)."""

    name: str
    description: str
    labels: dict[str, str]
    parent: str
    incremental: bool
    container: str
    import_source: ImportSource


class BackupChange(TypedDict, total=False):
    """The body of a backup's PATCH: the only fields that change in place."""

    description: str
    labels: dict[str, str]
