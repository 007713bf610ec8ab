"""dbaas_backup_strategy: where, when and how long backups of a project or of one service are kept, and when
the newest are restore-tested (docs/design.md). Import ID `project` or `project/service`.

Without `service` it is the project's strategy, the default of every service without one of its own. The
container it names applies to backups taken from now on: a backup records its container and keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from provider.cty import types as cty
from provider.framework.diagnostics import DiagnosticError, Diagnostics
from provider.framework.plan_modifiers import REQUIRES_REPLACE
from provider.framework.resource import ApplyRequest, PlanRequest, ReadRequest, Resource
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.framework.validators import Between, Matches
from provider.resources.backup import CONTAINER
from provider.resources.common import ID, PROJECT, api_errors, client_of, plan_default_project, project_of
from provider.resources.schedule import RULE as SCHEDULE_RULE
from provider.resources.schedule import is_schedule

if TYPE_CHECKING:  # the client's package imports http.client, which the schema's first RPC does not need
    from provider.client.api import Client
    from provider.client.models import Retention, StrategyPut
    from provider.client.models import Strategy as ApiStrategy

STRATEGY_ATTRIBUTES: dict[str, Attribute] = {
    "id": ID,
    "project": PROJECT,
    "service": Attribute(
        type=cty.STRING,
        optional=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        validators=(Matches(r"[a-z][a-z0-9-]{0,62}", "a service name"),),
        description="The service whose strategy this is; absent: the project's strategy.",
    ),
    "container": Attribute(
        type=cty.STRING,
        required=True,
        validators=(CONTAINER,),
        description="The object-store container new backups go to.",
    ),
    "schedule": Attribute(
        type=cty.STRING,
        optional=True,
        validators=(is_schedule,),
        description="A five-field cron expression (minute hour day month weekday, UTC) for scheduled full backups, "
        'e.g. `"0 3 * * *"`. ' + SCHEDULE_RULE,
    ),
    "restore_test_schedule": Attribute(
        type=cty.STRING,
        optional=True,
        validators=(is_schedule,),
        description="A five-field cron expression (UTC): when it fires, the newest backup of each service in scope is "
        "restore-tested (restored into a scratch server, started and checked; see `last_restore_test` of "
        '`dbaas_backup`), e.g. `"0 5 * * 0"`. ' + SCHEDULE_RULE,
    ),
    "retention": Attribute(
        optional=True,
        description="How many full backups, or how many days of backups, are kept.",
        nested=NestedAttributes(
            {
                "full_count": Attribute(
                    type=cty.NUMBER,
                    optional=True,
                    validators=(Between(1, 1000),),
                    description="The number of full backups kept (with their incrementals).",
                ),
                "days": Attribute(
                    type=cty.NUMBER,
                    optional=True,
                    validators=(Between(1, 36500),),
                    description="The number of days backups are kept.",
                ),
            }
        ),
    ),
}


class BackupStrategy(Resource):
    type_name = "dbaas_backup_strategy"
    schema = Schema(
        Block(attributes=STRATEGY_ATTRIBUTES, description="The backup strategy of a project or of one of its services.")
    )

    def modify_plan(self, request: PlanRequest) -> None:
        plan_default_project(self.provider_data, request)

    def create(self, request: ApplyRequest) -> None:
        # Create-only: a strategy another configuration (or someone by hand) declared is never taken over;
        # the error says how to import it.
        self.put(request, "create", create_only=True)

    def update(self, request: ApplyRequest) -> None:
        self.put(request, "update", create_only=False)

    def put(self, request: ApplyRequest, action: str, *, create_only: bool) -> None:
        planned = request.planned or {}
        project, service = project_of(self.provider_data, planned), planned.get("service")
        retention = planned.get("retention")
        body: StrategyPut = {
            "container": str(planned["container"]),
            "schedule": planned.get("schedule"),
            "restore_test_schedule": planned.get("restore_test_schedule"),
        }
        if retention is not None:
            body["retention"] = {
                "full_count": _integer(retention.get("full_count")),
                "days": _integer(retention.get("days")),
            }
        with api_errors(f"{action} the backup strategy of {_scope(project, service)}"):
            found = self.client.put_strategy(project, service, body, create_only=create_only)
            request.state = state_of(found, planned)

    def read(self, request: ReadRequest) -> dict[str, Any] | None:
        project, service = project_of(self.provider_data, request.state), request.state.get("service")
        with api_errors(f"read the backup strategy of {_scope(project, service)}"):
            found = self.client.strategy(project, service)
        return None if found is None else state_of(found, request.state)

    def delete(self, request: ApplyRequest) -> None:
        prior = request.prior or {}
        project, service = project_of(self.provider_data, prior), prior.get("service")
        with api_errors(f"delete the backup strategy of {_scope(project, service)}"):
            self.client.delete_strategy(project, service)

    def import_state(self, import_id: str, diagnostics: Diagnostics) -> dict[str, Any]:
        pieces = import_id.split("/")
        if len(pieces) not in (1, 2) or not all(pieces):
            raise DiagnosticError("Invalid import ID", f"expected project or project/service, got {import_id!r}")
        return {"id": import_id, "project": pieces[0], "service": pieces[1] if len(pieces) == 2 else None}

    @property
    def client(self) -> Client:
        return client_of(self.provider_data)


def _scope(project: str, service: str | None) -> str:
    return f"service {project}/{service}" if service else f"project {project}"


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


class StrategyState(NamedTuple):
    """dbaas_backup_strategy's state (schema version 0), read from the control plane: one field per attribute."""

    id: str
    project: str
    service: str | None
    container: str
    schedule: str | None
    restore_test_schedule: str | None
    retention: Retention | None

    @classmethod
    def from_api(cls, found: ApiStrategy, configured: Mapping[str, Any]) -> StrategyState:
        retention = found.get("retention")
        if retention is None and configured.get("retention") == {"full_count": None, "days": None}:
            retention = {"full_count": None, "days": None}  # `retention = {}` is no retention, as the API's null
        service = found.get("service")
        return cls(
            id=f"{found['project']}/{service}" if service else found["project"],
            project=found["project"],
            service=service,
            container=found["container"],
            schedule=found.get("schedule"),
            restore_test_schedule=found.get("restore_test_schedule"),
            retention=None
            if retention is None
            else {"full_count": retention.get("full_count"), "days": retention.get("days")},
        )

    def to_value(self) -> dict[str, Any]:
        """The state as the framework encodes it: an object of every attribute."""
        return self._asdict()


def state_of(found: ApiStrategy, configured: Mapping[str, Any]) -> dict[str, Any]:
    """The resource's state from an API answer (`StrategyState`), as the framework encodes it."""
    return StrategyState.from_api(found, configured).to_value()
