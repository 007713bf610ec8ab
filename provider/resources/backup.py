"""dbaas_backup: one backup of a service (docs/design.md). Import ID `project/service/name`.

A backup is taken asynchronously (Pending → Running → Succeeded or Failed): create puts it in state as soon
as the control plane accepted it, then waits (unless `wait_for_completion = false`). Only `description` and
`labels` change in place; everything else replaces the backup.

State follows the API, so a plan after apply or import is empty: `description` is "" and `labels` {} when
not configured (optional+computed with those defaults); `parent` and `incremental` are optional+computed
because the control plane resolves them (`incremental = true` records the parent it chained on, a
`parent` makes the backup incremental).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from provider.cty import types as cty
from provider.cty.values import UNKNOWN, is_unknown
from provider.framework.diagnostics import Diagnostics
from provider.framework.plan_modifiers import REQUIRES_REPLACE, USE_STATE_FOR_UNKNOWN
from provider.framework.resource import ApplyRequest, PlanRequest, ReadRequest, Resource
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.framework.timeouts import timeout_for, timeouts_block
from provider.framework.validators import Matches, conflicting
from provider.resources.common import (
    ID,
    PROJECT,
    api_errors,
    client_of,
    computed,
    plan_default_project,
    project_of,
    split_id,
)

if TYPE_CHECKING:  # the client's package imports http.client, which the schema's first RPC does not need
    from provider.client.api import Client
    from provider.client.models import Backup as ApiBackup
    from provider.client.models import BackupChange, BackupRequest, ImportSource, RecoveryWindow, RestoreTest

TIMEOUTS = {"create": "60m", "delete": "20m"}
BACKUP_NAME = Matches(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", "a backup name of letters, digits, '.', '_' and '-'")
CONTAINER = Matches(r"[a-z0-9][a-z0-9._-]{0,62}", "a container name of lowercase letters, digits, '.', '_' and '-'")
DONE = ("Succeeded", "Failed")
DEFAULT_PLUGIN = "pgbackrest"
# Computed values that move while the backup runs: kept across plans only once it has finished.
PROGRESS = (
    "state",
    "ready_to_use",
    "size_bytes",
    "backup_handle",
    "started_at",
    "finished_at",
    "recovery_window",
    "replicas",
    "last_restore_test",
)
# Values a restore test (or a verification) changes at any moment, a finished backup's too.
RETESTED = ("ready_to_use", "last_restore_test")

REPLACED = (USE_STATE_FOR_UNKNOWN, REQUIRES_REPLACE)

BACKUP_ATTRIBUTES: dict[str, Attribute] = {
    "id": ID,
    "project": PROJECT,
    "service": Attribute(
        type=cty.STRING,
        required=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        description="The service backed up; it may no longer exist for an imported backup.",
    ),
    "name": Attribute(
        type=cty.STRING,
        optional=True,
        computed=True,
        plan_modifiers=REPLACED,
        validators=(BACKUP_NAME,),
        description="Unique per service; default the creation time as `yyyyMMddHHmmss` (UTC).",
    ),
    "description": Attribute(
        type=cty.STRING, optional=True, computed=True, default="", description="Free text; changes in place."
    ),
    "labels": Attribute(
        type=cty.Map(cty.STRING),
        optional=True,
        computed=True,
        default={},
        description="Key/value labels (the `dbaas_backups` data source filters on them); change in place.",
    ),
    "parent": Attribute(
        type=cty.STRING,
        optional=True,
        computed=True,
        plan_modifiers=REPLACED,
        validators=(BACKUP_NAME,),
        description="An earlier backup (the latest of the container) to take an incremental on; "
        "with `incremental = true`, the backup the control plane chained on.",
    ),
    "incremental": Attribute(
        type=cty.BOOL,
        optional=True,
        computed=True,
        plan_modifiers=REPLACED,
        description="Incremental on the latest backup of the container; conflicts with `parent`. "
        "Computed: false for a full backup, null for one that names its `parent` (`type` says which).",
    ),
    "container": Attribute(
        type=cty.STRING,
        optional=True,
        computed=True,
        plan_modifiers=REPLACED,
        validators=(CONTAINER,),
        description="The object-store container; default: the service's backup strategy, "
        "else the project's, else the control plane's default.",
    ),
    "import_source": Attribute(
        optional=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        description="Register an existing backup instead of taking one; its data is not owned: destroy forgets "
        "it and never deletes the data.",
        nested=NestedAttributes(
            {
                "backup_handle": Attribute(
                    type=cty.STRING,
                    required=True,
                    description="`pgbackrest:<repository path>#<stanza>/<backup label>`.",
                ),
                "backup_plugin": Attribute(
                    type=cty.STRING,
                    optional=True,
                    computed=True,
                    default=DEFAULT_PLUGIN,
                    description="The plugin that reads the handle (`pgbackrest`).",
                ),
            }
        ),
    ),
    "wait_for_completion": Attribute(
        type=cty.BOOL,
        optional=True,
        computed=True,
        default=True,
        description="false: return once the control plane accepted the backup.",
    ),
    "state": computed(cty.STRING, "`Pending`, `Running`, `Succeeded` or `Failed` (only `Succeeded` restores)."),
    "ready_to_use": computed(cty.BOOL, "Succeeded, and failed neither verification nor its last restore test."),
    "type": computed(cty.STRING, "`full` or `incremental`."),
    "size_bytes": computed(cty.NUMBER, "The size of the backed-up database."),
    "backup_handle": computed(cty.STRING, "Where the backup's data is (`pgbackrest:…`)."),
    "backup_plugin": computed(cty.STRING, "The plugin that took or reads the backup."),
    "region": computed(cty.STRING, "The region the backup is stored in."),
    "started_at": computed(cty.STRING, "When the backup started (RFC 3339)."),
    "finished_at": computed(cty.STRING, "When the backup finished (RFC 3339)."),
    "recovery_window": Attribute(
        computed=True,
        plan_modifiers=(USE_STATE_FOR_UNKNOWN,),
        description="The points in time this backup can restore to (RFC 3339).",
        nested=NestedAttributes(
            {
                "start": computed(cty.STRING, "The earliest point in time."),
                "end": computed(cty.STRING, "The latest point in time."),
            }
        ),
    ),
    "replicas": Attribute(
        computed=True,
        plan_modifiers=(USE_STATE_FOR_UNKNOWN,),
        description="Copies in the service's additional backup regions.",
        nested=NestedAttributes(
            {
                "region": computed(cty.STRING, "The region of the copy."),
                "state": computed(cty.STRING, "The copy's state."),
                "replicated_at": computed(cty.STRING, "When it was copied (RFC 3339)."),
            },
            nesting="list",
        ),
    ),
    "last_restore_test": Attribute(
        computed=True,
        plan_modifiers=(USE_STATE_FOR_UNKNOWN,),
        description="The last restore test (the backup restored into a scratch server, started and checked); "
        "null until tested. A failed test makes `ready_to_use` false.",
        nested=NestedAttributes(
            {
                "state": computed(cty.STRING, "`running`, `passed` or `failed`."),
                "tested_at": computed(cty.STRING, "When the test started (RFC 3339)."),
                "duration_seconds": computed(cty.NUMBER, "How long the restore and the checks took."),
                "message": computed(cty.STRING, "What was checked, or what failed."),
            }
        ),
    ),
}


class Backup(Resource):
    type_name = "dbaas_backup"
    schema = Schema(
        Block(
            attributes=BACKUP_ATTRIBUTES,
            blocks={"timeouts": timeouts_block(**TIMEOUTS)},
            description="A backup of a managed service, taken or imported.",
        )
    )
    config_validators = (conflicting("parent", "incremental"),)

    def modify_plan(self, request: PlanRequest) -> None:
        plan_default_project(self.provider_data, request)
        planned, prior = request.planned, request.prior
        if prior is not None and planned != prior:
            # A running backup moves on while it is updated; a finished one may be restore-tested meanwhile.
            for name in PROGRESS if prior.get("state") not in DONE else RETESTED:
                planned[name] = UNKNOWN

    def create(self, request: ApplyRequest) -> None:
        planned = BackupPlan.from_value(request.planned or {})
        project = project_of(self.provider_data, request.planned)
        with api_errors(f"create backup of service {planned.service!r}", _paths):
            if planned.name is not None:
                created = self.client.put_backup(project, planned.service, planned.name, planned.request())
            else:
                created = self.client.create_backup(project, planned.service, planned.request())
            # In state before the wait: a failure, timeout or Ctrl-C from here on keeps the backup known.
            request.state = BackupState.from_api(created, request.planned or {}).to_value()
            if not planned.wait_for_completion:
                return
            done = self.wait_done(created, timeout_for(request.config, "create", TIMEOUTS["create"]), request)
        request.state = BackupState.from_api(done, request.planned or {}).to_value()

    def read(self, request: ReadRequest) -> dict[str, Any] | None:
        project = project_of(self.provider_data, request.state)
        service, name = str(request.state["service"]), str(request.state["name"])
        with api_errors(f"read backup {service}/{name}"):
            # Refresh reads a plan's backups from one list per service, not one GET each.
            found = self.client.refreshed_backup(project, service, name)
        return None if found is None else BackupState.from_api(found, request.state).to_value()

    def update(self, request: ApplyRequest) -> None:
        prior, planned = request.prior or {}, request.planned or {}
        project, service, name = project_of(self.provider_data, prior), str(prior["service"]), str(prior["name"])
        change: BackupChange = {}
        if planned.get("description") != prior.get("description"):
            change["description"] = str(planned.get("description") or "")
        if planned.get("labels") != prior.get("labels"):
            change["labels"] = dict(planned.get("labels") or {})
        with api_errors(f"update backup {service}/{name}"):
            changed = (
                self.client.update_backup(project, service, name, change)
                if change
                else self.client.backup(project, service, name)
            )
            if changed is None:
                request.state = prior
                return
            request.state = BackupState.from_api(changed, planned).to_value()
            if planned.get("wait_for_completion") is not False and changed["state"] not in DONE:
                changed = self.wait_done(changed, timeout_for(request.config, "create", TIMEOUTS["create"]), request)
                request.state = BackupState.from_api(changed, planned).to_value()

    def delete(self, request: ApplyRequest) -> None:
        """Deletes the backup's data (an imported backup's data stays: the control plane only forgets it).

        The control plane accepts every deletion, takes the incrementals built on the backup along, and
        expires the only full backup of a container once it can; done when the backup answers 404.
        """
        prior = request.prior or {}
        project, service, name = project_of(self.provider_data, prior), str(prior["service"]), str(prior["name"])
        from provider.client.api import NotFound

        deadline = time.monotonic() + timeout_for(prior, "delete", TIMEOUTS["delete"])
        with api_errors(f"delete backup {service}/{name}"):
            try:
                # A backup still being taken (one whose create timed out, say) is deleted once it has finished.
                if self.client.delete_backup(project, service, name) is None:
                    return
                self.client.wait(
                    lambda: self.client.backup(project, service, name),
                    until=(),
                    failed=(),
                    timeout=deadline - time.monotonic(),
                    stop=request.stop,
                    what=f"deletion of backup {project}/{service}/{name}",
                )
            except NotFound:
                return  # gone: what the wait was for

    def import_state(self, import_id: str, diagnostics: Diagnostics) -> dict[str, Any]:
        project, service, name = split_id(import_id, 3, "project/service/name")
        return {"id": import_id, "project": project, "service": service, "name": name, "wait_for_completion": True}

    @property
    def client(self) -> Client:
        return client_of(self.provider_data)

    def wait_done(self, backup: ApiBackup, timeout: float, request: ApplyRequest) -> ApiBackup:
        if backup["state"] == "Succeeded":
            return backup
        project, service, name = backup["project"], backup["service"], backup["name"]
        return self.client.wait(
            lambda: self.client.backup(project, service, name),
            until=("Succeeded",),
            failed=("Failed",),
            timeout=timeout,
            stop=request.stop,
            what=f"backup {project}/{service}/{name}",
        )


def known(value: Any) -> bool:
    return value is not None and not is_unknown(value)


def _paths(field: str | None) -> tuple[str, ...] | None:
    return ("import_source", "backup_handle") if field == "import_source.backup_handle" else None


class BackupPlan(NamedTuple):
    """What a planned dbaas_backup asks the control plane for; None: the control plane decides."""

    service: str
    name: str | None
    description: str
    labels: dict[str, str]
    parent: str | None
    incremental: bool | None
    container: str | None
    import_source: ImportSource | None
    wait_for_completion: bool

    @classmethod
    def from_value(cls, planned: Mapping[str, Any]) -> BackupPlan:
        source = planned.get("import_source")
        return cls(
            service=str(planned["service"]),
            name=_text(planned.get("name")),
            description=str(planned.get("description") or ""),
            labels={str(key): str(value) for key, value in (planned.get("labels") or {}).items()},
            parent=_text(planned.get("parent")),
            incremental=bool(planned["incremental"]) if known(planned.get("incremental")) else None,
            container=_text(planned.get("container")),
            import_source=None
            if not isinstance(source, dict)
            else {
                "backup_handle": str(source["backup_handle"]),
                "backup_plugin": _text(source.get("backup_plugin")) or DEFAULT_PLUGIN,
            },
            wait_for_completion=planned.get("wait_for_completion") is not False,
        )

    def request(self) -> BackupRequest:
        """The body of the POST or PUT that takes or registers the backup."""
        body: BackupRequest = {"description": self.description, "labels": self.labels}
        if self.parent is not None:
            body["parent"] = self.parent
        if self.container is not None:
            body["container"] = self.container
        if self.incremental is not None:
            body["incremental"] = self.incremental
        if self.import_source is not None:
            body["import_source"] = self.import_source
        return body


class ReplicaState(TypedDict):
    region: str
    state: str
    replicated_at: str | None


class BackupState(NamedTuple):
    """dbaas_backup's state (schema version 0), read from the control plane: one field per attribute."""

    id: str
    project: str
    service: str
    name: str
    description: str
    labels: dict[str, str]
    parent: str | None
    incremental: bool | None
    container: str
    import_source: ImportSource | None
    wait_for_completion: bool
    state: str
    ready_to_use: bool
    type: str
    size_bytes: int | None
    backup_handle: str | None
    backup_plugin: str | None
    region: str
    started_at: str | None
    finished_at: str | None
    recovery_window: RecoveryWindow
    replicas: list[ReplicaState]
    last_restore_test: RestoreTest | None
    timeouts: dict[str, Any] | None  # Terraform's own: kept from the configuration or the prior state

    @classmethod
    def from_api(cls, found: ApiBackup, configured: Mapping[str, Any]) -> BackupState:
        """The state of the backup `found`; what only Terraform holds (waiting, timeouts) comes from `configured`."""
        source = found.get("import_source")
        window = found.get("recovery_window") or {"start": None, "end": None}
        test = found.get("last_restore_test")
        wait = configured.get("wait_for_completion")
        return cls(
            id=f"{found['project']}/{found['service']}/{found['name']}",
            project=found["project"],
            service=found["service"],
            name=found["name"],
            description=found.get("description") or "",
            labels=dict(found.get("labels") or {}),
            parent=found.get("parent"),
            incremental=_incremental(found, configured),
            container=found["container"],
            import_source=None
            if not source
            else {
                "backup_handle": source["backup_handle"],
                "backup_plugin": source.get("backup_plugin") or DEFAULT_PLUGIN,
            },
            wait_for_completion=wait if isinstance(wait, bool) else True,
            state=found["state"],
            ready_to_use=bool(found.get("ready_to_use")),
            type=found["type"],
            size_bytes=found.get("size_bytes"),
            backup_handle=found.get("backup_handle"),
            backup_plugin=found.get("backup_plugin"),
            region=found["region"],
            started_at=found.get("started_at"),
            finished_at=found.get("finished_at"),
            recovery_window={"start": window.get("start"), "end": window.get("end")},
            replicas=[
                {"region": r["region"], "state": r["state"], "replicated_at": r.get("replicated_at")}
                for r in found.get("replicas") or []
            ],
            last_restore_test=None
            if test is None
            else {
                "state": test["state"],
                "tested_at": test.get("tested_at"),
                "duration_seconds": test.get("duration_seconds"),
                "message": test.get("message"),
            },
            timeouts=configured.get("timeouts"),
        )

    def to_value(self) -> dict[str, Any]:
        """The state as the framework encodes it: an object of every attribute."""
        return self._asdict()


def state_of(found: ApiBackup, configured: Mapping[str, Any]) -> dict[str, Any]:
    """The resource's state from an API answer (`BackupState`), as the framework encodes it."""
    return BackupState.from_api(found, configured).to_value()


def _incremental(found: ApiBackup, configured: Mapping[str, Any]) -> bool | None:
    """Whether the backup is incremental, as configured; null for one that names its `parent` without
    `incremental` (an import among them): configuration generated from state must not set both, which conflict."""
    if found.get("parent") is not None and not known(configured.get("incremental")):
        return None
    return bool(found.get("incremental"))


def _text(value: Any) -> str | None:
    return str(value) if known(value) else None
