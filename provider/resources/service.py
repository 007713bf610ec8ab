"""dbaas_service: a managed PostgreSQL service (docs/design.md). Import ID `project/name`."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from provider.cty import types as cty
from provider.cty.values import is_unknown
from provider.framework.diagnostics import DiagnosticError, Diagnostics
from provider.framework.paths import format_path
from provider.framework.plan_modifiers import REQUIRES_REPLACE, USE_STATE_FOR_UNKNOWN
from provider.framework.resource import ApplyRequest, PlanRequest, ReadRequest, Resource
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.framework.timeouts import timeout_for, timeouts_block
from provider.framework.validators import Matches
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
    from provider.client.models import Region, UserConfig
    from provider.client.models import Service as ApiService

TIMEOUTS = {"create": "20m", "update": "30m", "delete": "20m"}
SETTLED = ("RUNNING", "POWEROFF", "FAILED")  # no job of the service is running
OFFERED = ("cloud", "plan", "service_type", "version")  # checked at plan against what the control plane offers
NAME = Matches(r"[a-z][a-z0-9-]{0,62}", "a lowercase name of letters, digits and dashes")

USER_CONFIG = Attribute(
    optional=True,
    computed=True,
    plan_modifiers=(USE_STATE_FOR_UNKNOWN,),
    description="Service settings beyond the plan.",
    nested=NestedAttributes(
        {
            "additional_backup_regions": Attribute(
                type=cty.Set(cty.STRING),
                optional=True,
                computed=True,
                plan_modifiers=(USE_STATE_FOR_UNKNOWN,),
                description="Regions that receive a copy of every backup and its WAL; none may equal `cloud`.",
            ),
        }
    ),
)

SERVICE_ATTRIBUTES: dict[str, Attribute] = {
    "id": ID,
    "project": PROJECT,
    "name": Attribute(
        type=cty.STRING,
        required=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        validators=(NAME,),
        description="The service's name, unique in its project.",
    ),
    "service_type": Attribute(
        type=cty.STRING,
        required=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        description="`pg` (PostgreSQL 15, backed up with pgBackRest) or `mysql` (MariaDB 10.11, backed up with "
        "mariabackup; `uri` is `mysql://user:password@host:port/defaultdb`).",
    ),
    "cloud": Attribute(
        type=cty.STRING,
        required=True,
        description="The region; changing it migrates the service (its backups stay where they are).",
    ),
    "plan": Attribute(type=cty.STRING, required=True, description="`hobbyist`, `startup-4` or `business-8`."),
    "version": Attribute(
        type=cty.STRING,
        optional=True,
        computed=True,
        plan_modifiers=(USE_STATE_FOR_UNKNOWN, REQUIRES_REPLACE),
        description="The engine's major version: `15` for `pg`, `10.11` for `mysql` (the defaults).",
    ),
    "user_config": USER_CONFIG,
    "termination_protection": Attribute(
        type=cty.BOOL,
        optional=True,
        computed=True,
        default=False,
        description="While true, the service cannot be destroyed.",
    ),
    "state": computed(cty.STRING, "`RUNNING` once ready; `REBUILDING`, `POWEROFF`, `FAILED` otherwise."),
    "host": computed(cty.STRING, "The host to connect to."),
    "port": computed(cty.NUMBER, "The port to connect to."),
    "username": computed(
        cty.STRING,
        "The service's owner role: it owns the `postgres` database (schemas, tables, grants) and creates databases; "
        "it is not a superuser (no server programs, no server files, no untrusted languages, no new roles).",
    ),
    "password": computed(cty.STRING, "The owner role's password.", sensitive=True),
    "uri": computed(cty.STRING, "A `postgres://` connection URI with the owner role's credentials.", sensitive=True),
    "created_at": computed(cty.STRING, "When the service was created (RFC 3339)."),
}


class Service(Resource):
    type_name = "dbaas_service"
    schema = Schema(
        Block(
            attributes=SERVICE_ATTRIBUTES,
            blocks={"timeouts": timeouts_block(**TIMEOUTS)},
            description="A managed PostgreSQL service.",
        )
    )

    def modify_plan(self, request: PlanRequest) -> None:
        plan_default_project(self.provider_data, request)
        check_offer(self.client, request)

    def create(self, request: ApplyRequest) -> None:
        planned = request.planned or {}
        project = project_of(self.provider_data, planned)
        body = {key: planned[key] for key in ("name", "service_type", "cloud", "plan")}
        if not is_unknown(planned.get("version")) and planned.get("version"):
            body["version"] = planned["version"]
        body["termination_protection"] = bool(planned.get("termination_protection"))
        body["user_config"] = user_config_body(planned.get("user_config"))
        with api_errors(f"create service {planned['name']!r}"):
            created = self.client.create_service(project, body)
            # In state before the wait: a timeout or Ctrl-C from here on keeps the service known.
            request.state = state_of(created, planned)
            ready = self.wait_ready(
                project, str(planned["name"]), timeout_for(request.config, "create", TIMEOUTS["create"]), request
            )
        request.state = state_of(ready, planned)

    def read(self, request: ReadRequest) -> dict[str, Any] | None:
        project = project_of(self.provider_data, request.state)
        with api_errors(f"read service {request.state.get('name')!r}"):
            found = self.client.service(project, str(request.state["name"]))
        return None if found is None else state_of(found, request.state)

    def update(self, request: ApplyRequest) -> None:
        prior, planned = request.prior or {}, request.planned or {}
        project = project_of(self.provider_data, prior)
        body: dict[str, Any] = {
            key: planned[key]
            for key in ("cloud", "plan", "termination_protection")
            if planned.get(key) != prior.get(key) and not is_unknown(planned.get(key))
        }
        if planned.get("user_config") != prior.get("user_config") and not is_unknown(planned.get("user_config")):
            body["user_config"] = user_config_body(planned.get("user_config"))
        name = str(prior["name"])
        with api_errors(f"update service {name!r}"):
            changed = self.client.update_service(project, name, body) if body else self.client.service(project, name)
            if changed is None:
                raise DiagnosticError(f"Could not update service {name!r}", "it no longer exists on the control plane")
            request.state = state_of(changed, planned)
            ready = self.wait_ready(project, name, timeout_for(request.config, "update", TIMEOUTS["update"]), request)
        request.state = state_of(ready, planned)

    def delete(self, request: ApplyRequest) -> None:
        prior = request.prior or {}
        project, name = project_of(self.provider_data, prior), str(prior["name"])
        from provider.client.api import NotFound

        deadline = time.monotonic() + timeout_for(prior, "delete", TIMEOUTS["delete"])
        with api_errors(f"delete service {name!r}"):
            try:
                # A create, plan change or migration still running (one that timed out, say) must end first:
                # the control plane refuses to delete a busy service.
                self.client.wait(
                    lambda: self.client.service(project, name),
                    until=SETTLED,
                    failed=(),
                    timeout=deadline - time.monotonic(),
                    stop=request.stop,
                    what=f"service {project}/{name} to settle before its deletion",
                )
                if self.client.delete_service(project, name) is None:
                    return
                self.client.wait(
                    lambda: self.client.service(project, name),
                    until=(),
                    failed=("FAILED",),
                    timeout=deadline - time.monotonic(),
                    stop=request.stop,
                    what=f"deletion of service {project}/{name}",
                )
            except NotFound:
                return  # gone: what the wait was for

    def import_state(self, import_id: str, diagnostics: Diagnostics) -> dict[str, Any]:
        project, name = split_id(import_id, 2, "project/name")
        return {"id": import_id, "project": project, "name": name}

    @property
    def client(self) -> Client:
        return client_of(self.provider_data)

    def wait_ready(self, project: str, name: str, timeout: float, request: ApplyRequest) -> ApiService:
        return self.client.wait(
            lambda: self.client.service(project, name),
            until=("RUNNING",),
            failed=("FAILED",),
            timeout=timeout,
            stop=request.stop,
            what=f"service {project}/{name}",
        )


def check_offer(client: Client, request: PlanRequest) -> None:
    """The rules of docs/design.md checked at plan against what the control plane offers (its regions, each
    with its plans, service types and versions): `cloud` and every additional backup region must be a region,
    no backup region the service's own `cloud`; `plan` and `service_type` must be offered in `cloud`, and
    `version` for that service type.

    Only values that change are checked, so an unchanged service costs no request; the regions are listed
    once per plan (`Client.known_regions`). Unknown values wait for apply.
    """
    planned, prior = request.planned, request.prior or {}
    changed = {key for key in OFFERED if _known(planned.get(key)) and planned.get(key) != prior.get(key)}
    backup_regions = _backup_regions(planned)
    new_backup_regions = backup_regions is not None and backup_regions != _backup_regions(prior)
    if not (changed or new_backup_regions):
        return
    with api_errors("list the control plane's regions"):
        regions = {region["name"]: region for region in client.known_regions()}
    cloud = planned.get("cloud")
    region = regions.get(str(cloud)) if _known(cloud) else None
    if "cloud" in changed and region is None:
        why = f"unknown region {cloud!r}; regions: {', '.join(regions)}"
        request.diagnostics.error("Unknown region in cloud", why, ("cloud",))
    if new_backup_regions:
        _check_backup_regions(request, sorted(backup_regions or ()), regions)
    if region is not None:
        _check_service_offer(request, region, changed)


def _check_backup_regions(request: PlanRequest, backup_regions: list[str], regions: Mapping[str, Region]) -> None:
    # Terraform shows a nested attribute's diagnostic at its resource block, so the summary names the path.
    path = ("user_config", "additional_backup_regions")
    for name in backup_regions:
        if name not in regions:
            why = f"unknown region {name!r}; regions: {', '.join(regions)}"
            request.diagnostics.error(f"Unknown region in {format_path(path)}", why, path)
        elif name == request.planned.get("cloud"):
            why = f"{name!r} is the service's own `cloud`; its backups already live there"
            request.diagnostics.error(f"Invalid region in {format_path(path)}", why, path)


def _check_service_offer(request: PlanRequest, region: Region, changed: set[str]) -> None:
    """`plan`, `service_type` and `version` against what `region`, the service's cloud, offers; each checked
    when it or what it depends on changes (a move to another region checks the plan and type there)."""
    planned, cloud = request.planned, region["name"]
    plan, service_type, version = planned.get("plan"), planned.get("service_type"), planned.get("version")
    if changed & {"cloud", "plan"} and _known(plan) and plan not in region["plans"]:
        why = f"unknown plan {plan!r} in region {cloud!r}; plans: {', '.join(region['plans'])}"
        request.diagnostics.error("Unknown plan", why, ("plan",))
    types = {offer["name"]: offer["versions"] for offer in region["service_types"]}
    if not _known(service_type):
        return
    versions = types.get(str(service_type))
    if versions is None:
        if changed & {"cloud", "service_type"}:
            why = f"unknown service type {service_type!r} in region {cloud!r}; service types: {', '.join(types)}"
            request.diagnostics.error("Unknown service_type", why, ("service_type",))
    elif changed & {"service_type", "version"} and _known(version) and version not in versions:
        why = f"{service_type} version {version!r} is not offered; versions: {', '.join(versions)}"
        request.diagnostics.error("Unknown version", why, ("version",))


def _backup_regions(value: dict[str, Any]) -> set[str] | None:
    """The additional backup regions of a planned or prior service; None while unknown."""
    user_config = value.get("user_config")
    regions = user_config.get("additional_backup_regions") if _known(user_config) and user_config else None
    if regions is None or is_unknown(regions) or any(is_unknown(region) for region in regions):
        return None
    return {str(region) for region in regions}


def _known(value: Any) -> bool:
    return value is not None and not is_unknown(value)


def user_config_body(value: Any) -> dict[str, Any]:
    regions = (value or {}).get("additional_backup_regions") if not is_unknown(value) else None
    return {"additional_backup_regions": sorted(regions or []) if not is_unknown(regions) else []}


class ServiceState(NamedTuple):
    """dbaas_service's state (schema version 0), read from the control plane: one field per attribute."""

    id: str
    project: str
    name: str
    service_type: str
    cloud: str
    plan: str
    version: str
    user_config: UserConfig
    termination_protection: bool
    state: str
    host: str | None
    port: int | None
    username: str
    password: str
    uri: str | None
    created_at: str
    timeouts: dict[str, Any] | None  # Terraform's own: kept from the configuration or the prior state

    @classmethod
    def from_api(cls, found: ApiService, configured: Mapping[str, Any]) -> ServiceState:
        """The state of the service `found`; the timeouts come from `configured`."""
        return cls(
            id=f"{found['project']}/{found['name']}",
            project=found["project"],
            name=found["name"],
            service_type=found["service_type"],
            cloud=found["cloud"],
            plan=found["plan"],
            version=found["version"],
            user_config={"additional_backup_regions": sorted(found["user_config"]["additional_backup_regions"])},
            termination_protection=found["termination_protection"],
            state=found["state"],
            host=found["host"],
            port=found["port"],
            username=found["username"],
            password=found["password"],
            uri=found["uri"],
            created_at=found["created_at"],
            timeouts=configured.get("timeouts"),
        )

    def to_value(self) -> dict[str, Any]:
        """The state as the framework encodes it: an object of every attribute."""
        return self._asdict()


def state_of(found: ApiService, configured: Mapping[str, Any]) -> dict[str, Any]:
    """The resource's state from an API answer (`ServiceState`), as the framework encodes it."""
    return ServiceState.from_api(found, configured).to_value()
