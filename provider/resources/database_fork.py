"""dbaas_database_fork: a new service restored from another service's backups (docs/design.md). Import ID
`project/name`.

A fork is a dbaas_service created with `fork_from`: it shares the service's attributes, updates (`plan`,
`cloud`, `user_config`, `termination_protection` in place) and deletion, so it is a Service with more
attributes. What it was forked from (`source_service`, `source_project`, `backup`, `recovery_target_time`)
matters only at creation: it replaces the fork when changed, and Read keeps it from the prior state (the
API echoes it normalised: the backup's name only, the time reformatted), so it never shows drift. An
imported fork has no prior values: Read takes them from the API's `fork_from`, so that generated
configuration plans no replacement.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from provider.cty import types as cty
from provider.cty.values import is_unknown
from provider.framework.diagnostics import DiagnosticError
from provider.framework.plan_modifiers import REQUIRES_REPLACE, USE_STATE_FOR_UNKNOWN
from provider.framework.resource import ApplyRequest, PlanRequest, ReadRequest
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.framework.timeouts import timeout_for, timeouts_block
from provider.framework.validators import Matches, conflicting
from provider.resources.common import api_errors, computed, project_of
from provider.resources.service import NAME, SERVICE_ATTRIBUTES, TIMEOUTS, Service, state_of, user_config_body

if TYPE_CHECKING:  # the client's package imports http.client, which the schema's first RPC does not need
    from provider.client.models import Service as ApiService

BACKUP_ID = Matches(
    r"[^/\s]+/[a-z][a-z0-9-]{0,62}/[A-Za-z0-9][A-Za-z0-9._-]{0,62}", "a backup as `project/service/name`"
)
REPLACED = (USE_STATE_FOR_UNKNOWN, REQUIRES_REPLACE)
# Set at creation only; kept from the prior state by Read.
FORK_FIELDS = ("source_service", "source_project", "backup", "recovery_target_time")


def is_rfc3339(value: Any) -> str | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        return f'must be an RFC 3339 time such as "2024-05-01T12:00:00Z", got {value!r}'
    return None


FORK_ATTRIBUTES: dict[str, Attribute] = {
    **SERVICE_ATTRIBUTES,
    # Forks take the source's engine and version: read-only here.
    "service_type": computed(cty.STRING, "`pg` (PostgreSQL) or `mysql` (MariaDB 10.11), as the source."),
    "version": computed(cty.STRING, "The engine's major version, as the source's."),
    "source_service": Attribute(
        type=cty.STRING,
        required=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        validators=(NAME,),
        description="The service whose backups are restored; it may no longer exist.",
    ),
    "source_project": Attribute(
        type=cty.STRING,
        optional=True,
        computed=True,
        plan_modifiers=REPLACED,
        description="The source's project; defaults to the fork's `project`.",
    ),
    "recovery_target_time": Attribute(
        type=cty.STRING,
        optional=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        validators=(is_rfc3339,),
        description="Recover to this point in time (RFC 3339), inside the source's recoverable window; "
        "absent: the latest transaction, not just the latest backup. For `mysql` the resolution is one second "
        "(MariaDB stamps binary log events to the second): the fork keeps every commit of earlier seconds and "
        "none of the target's own second.",
    ),
    "backup": Attribute(
        type=cty.STRING,
        optional=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        validators=(BACKUP_ID,),
        description="Restore exactly this backup of the source (`project/service/name`, the "
        "`id` of a `dbaas_backup`); conflicts with `recovery_target_time`.",
    ),
    "restored_from": Attribute(
        computed=True,
        plan_modifiers=(USE_STATE_FOR_UNKNOWN,),
        description="What the restore actually used.",
        nested=NestedAttributes(
            {
                "backup": computed(cty.STRING, "The backup restored (its name); null for the latest transaction."),
                "region": computed(cty.STRING, "The region whose copy was restored."),
                "recovery_time": computed(cty.STRING, "The point in time recovered to (RFC 3339)."),
            }
        ),
    ),
}


class DatabaseFork(Service):
    type_name = "dbaas_database_fork"
    schema = Schema(
        Block(
            attributes=FORK_ATTRIBUTES,
            blocks={"timeouts": timeouts_block(**TIMEOUTS)},
            description="A managed PostgreSQL service restored from another service's backups: "
            "a backup, a point in time, or the latest transaction.",
        )
    )
    config_validators = (conflicting("backup", "recovery_target_time"),)

    def modify_plan(self, request: PlanRequest) -> None:
        super().modify_plan(request)
        planned, prior = request.planned, request.prior
        project = planned.get("project")
        if request.config.get("source_project") is None and isinstance(project, str):
            planned["source_project"] = project  # the default follows the fork's project
            if prior is not None and prior.get("source_project") != project:
                request.requires_replace.append(("source_project",))
        check_backup(planned)

    def create(self, request: ApplyRequest) -> None:
        planned = request.planned or {}
        project, name = project_of(self.provider_data, planned), str(planned["name"])
        check_backup(planned)
        fork_from: dict[str, Any] = {"service": planned["source_service"]}
        if known(planned.get("source_project")):
            fork_from["project"] = planned["source_project"]
        if known(planned.get("backup")):
            fork_from["backup"] = str(planned["backup"]).rsplit("/", 1)[1]
        if known(planned.get("recovery_target_time")):
            fork_from["recovery_target_time"] = planned["recovery_target_time"]
        body = {
            "name": name,
            "cloud": planned["cloud"],
            "plan": planned["plan"],
            "termination_protection": bool(planned.get("termination_protection")),
            "user_config": user_config_body(planned.get("user_config")),
            "fork_from": fork_from,
        }
        with api_errors(f"fork service {planned['source_service']!r} into {name!r}", _paths):
            created = self.client.create_service(project, body)
            # In state before the wait: a timeout or Ctrl-C from here on keeps the fork known.
            request.state = fork_state_of(created, planned)
            ready = self.wait_ready(project, name, timeout_for(request.config, "create", TIMEOUTS["create"]), request)
        request.state = fork_state_of(ready, planned)

    def read(self, request: ReadRequest) -> dict[str, Any] | None:
        project = project_of(self.provider_data, request.state)
        with api_errors(f"read fork {request.state.get('name')!r}"):
            found = self.client.service(project, str(request.state["name"]))
        return None if found is None else fork_state_of(found, request.state)

    def update(self, request: ApplyRequest) -> None:
        """As a service; what it was forked from never changes in place, so it is the prior state's."""
        prior = request.prior or {}
        try:
            super().update(request)
        finally:
            if request.state is not None and request.state is not prior:
                request.state = {**request.state, **{key: prior.get(key) for key in (*FORK_FIELDS, "restored_from")}}


def known(value: Any) -> bool:
    return value is not None and not is_unknown(value)


def check_backup(planned: dict[str, Any]) -> None:
    """A backup given by ID must be one of the source service's."""
    backup, service, project = planned.get("backup"), planned.get("source_service"), planned.get("source_project")
    if not known(backup) or BACKUP_ID(backup) is not None:
        return
    backup_project, backup_service, _ = str(backup).split("/")
    if known(service) and backup_service != service:
        raise DiagnosticError(
            "Backup of another service", f"backup {backup!r} is not a backup of source_service {service!r}", ("backup",)
        )
    if known(project) and backup_project != project:
        raise DiagnosticError(
            "Backup of another project", f"backup {backup!r} is not in source_project {project!r}", ("backup",)
        )


def _paths(field: str | None) -> tuple[str, ...] | None:
    return {
        "fork_from.service": ("source_service",),
        "fork_from.project": ("source_project",),
        "fork_from.backup": ("backup",),
        "fork_from.recovery_target_time": ("recovery_target_time",),
    }.get(field or "")


def fork_state_of(found: ApiService, configured: Mapping[str, Any]) -> dict[str, Any]:
    """The fork's state from an API answer: the service's, with what it was forked from.

    The fork fields come from `configured` (the plan, the prior state) when it has them; an imported fork
    has none yet and takes them from the API's `fork_from`.
    """
    state = state_of(found, configured)
    source = found.get("fork_from")
    restored = found.get("restored_from")
    if known(configured.get("source_service")):
        state.update({key: configured.get(key) for key in FORK_FIELDS})
        if not known(state["source_project"]):
            state["source_project"] = (source["project"] if source else None) or found["project"]
    elif source is None:
        raise DiagnosticError(
            "Not a fork",
            f"service {found['project']}/{found['name']} was not forked from "
            "another service: import it as a dbaas_service",
        )
    else:
        state.update(
            {
                "source_service": source["service"],
                "source_project": source.get("project") or found["project"],
                "backup": (
                    f"{source.get('project') or found['project']}/{source['service']}/{source['backup']}"
                    if source.get("backup")
                    else None
                ),
                "recovery_target_time": source.get("recovery_target_time"),
            }
        )
    state["restored_from"] = (
        None
        if not restored
        else {
            "backup": restored.get("backup"),
            "region": restored.get("region"),
            "recovery_time": restored.get("recovery_time"),
        }
    )
    return state
