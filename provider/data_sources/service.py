"""data "dbaas_service": an existing service, looked up by name."""

from __future__ import annotations

from typing import Any

from provider.framework.diagnostics import DiagnosticError, Diagnostics
from provider.framework.resource import DataSource
from provider.framework.schema import Attribute, Block, Schema
from provider.resources.common import api_errors, client_of, project_of
from provider.resources.service import SERVICE_ATTRIBUTES, state_of

# The resource's attributes, all read-only but the name (and the project) that select the service.
_ATTRIBUTES = {
    name: Attribute(
        type=attr.type, nested=attr.nested, computed=True, sensitive=attr.sensitive, description=attr.description
    )
    for name, attr in SERVICE_ATTRIBUTES.items()
}
_ATTRIBUTES["name"] = Attribute(type=SERVICE_ATTRIBUTES["name"].type, required=True, description="The service.")
_ATTRIBUTES["project"] = Attribute(
    type=SERVICE_ATTRIBUTES["project"].type,
    optional=True,
    computed=True,
    description="Defaults to the provider's `project`.",
)


class ServiceData(DataSource):
    type_name = "dbaas_service"
    schema = Schema(Block(attributes=_ATTRIBUTES, description="An existing managed PostgreSQL service."))

    def read(self, config: dict[str, Any], diagnostics: Diagnostics) -> dict[str, Any]:
        project = project_of(self.provider_data, config)
        with api_errors(f"read service {config['name']!r}"):
            found = client_of(self.provider_data).service(project, str(config["name"]))
        if found is None:
            raise DiagnosticError(
                "Service not found", f"no service {config['name']!r} in project {project!r}", ("name",)
            )
        state = state_of(found, {})
        state.pop("timeouts")
        return state
