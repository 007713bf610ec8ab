"""data "dbaas_backups": the backups of a service, oldest first, optionally filtered by state and labels."""

from __future__ import annotations

from typing import Any

from provider.cty import types as cty
from provider.framework.diagnostics import Diagnostics
from provider.framework.resource import DataSource
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.resources.backup import BACKUP_ATTRIBUTES, state_of
from provider.resources.common import api_errors, client_of, project_of

# What only Terraform holds about a managed backup (how to wait for it) is no attribute of a backup.
_NOT_LISTED = ("wait_for_completion",)


def read_only(attr: Attribute) -> Attribute:
    """The attribute as a computed value, nested attributes included (no defaults, no plan modifiers)."""
    nested = (
        None
        if attr.nested is None
        else NestedAttributes(
            {name: read_only(sub) for name, sub in attr.nested.attributes.items()}, attr.nested.nesting
        )
    )
    return Attribute(
        type=attr.type, nested=nested, computed=True, sensitive=attr.sensitive, description=attr.description
    )


_BACKUP = {name: read_only(attr) for name, attr in BACKUP_ATTRIBUTES.items() if name not in _NOT_LISTED}
# A managed backup leaves `incremental` null when it names its `parent`; a listed one always says.
_BACKUP["incremental"] = Attribute(type=cty.BOOL, computed=True, description="Whether the backup is incremental.")


class BackupsData(DataSource):
    type_name = "dbaas_backups"
    schema = Schema(
        Block(
            description="The backups of a service (which may no longer exist), oldest first.",
            attributes={
                "id": Attribute(type=cty.STRING, computed=True, description="`project/service`."),
                "project": Attribute(
                    type=cty.STRING, optional=True, computed=True, description="Defaults to the provider's `project`."
                ),
                "service": Attribute(type=cty.STRING, required=True, description="The service backed up."),
                "state": Attribute(
                    type=cty.STRING,
                    optional=True,
                    description="Only backups in this state (`Pending`, `Running`, `Succeeded`, `Failed`).",
                ),
                "labels": Attribute(
                    type=cty.Map(cty.STRING),
                    optional=True,
                    description="Only backups carrying every one of these labels.",
                ),
                "backups": Attribute(
                    computed=True,
                    description="The backups, with the `dbaas_backup` attributes.",
                    nested=NestedAttributes(_BACKUP, "list"),
                ),
            },
        )
    )

    def read(self, config: dict[str, Any], diagnostics: Diagnostics) -> dict[str, Any]:
        project, service = project_of(self.provider_data, config), str(config["service"])
        with api_errors(f"list backups of service {service!r}"):
            found = client_of(self.provider_data).backups(
                project, service, state=config.get("state"), labels=config.get("labels")
            )
        listed = []
        for backup in found:
            state = state_of(backup, {})
            state["incremental"] = bool(backup.get("incremental"))
            for name in (*_NOT_LISTED, "timeouts"):
                state.pop(name)
            listed.append(state)
        return {
            "id": f"{project}/{service}",
            "project": project,
            "service": service,
            "state": config.get("state"),
            "labels": config.get("labels"),
            "backups": listed,
        }
