"""data "dbaas_regions": the regions services can run in and back up to."""

from __future__ import annotations

from typing import Any

from provider.cty import types as cty
from provider.framework.diagnostics import Diagnostics
from provider.framework.resource import DataSource
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.resources.common import api_errors, client_of


class Regions(DataSource):
    type_name = "dbaas_regions"
    schema = Schema(
        Block(
            description="The regions of the control plane.",
            attributes={
                "id": Attribute(type=cty.STRING, computed=True, description="Always `regions`."),
                "regions": Attribute(
                    computed=True,
                    description="Every region services can run in and back up to, in the control plane's order.",
                    nested=NestedAttributes(
                        {
                            "name": Attribute(
                                type=cty.STRING,
                                computed=True,
                                description="The region's name, as `cloud` and `additional_backup_regions` take it.",
                            ),
                            "description": Attribute(
                                type=cty.STRING, computed=True, description="What the control plane says of it."
                            ),
                            "plans": Attribute(
                                type=cty.List(cty.STRING),
                                computed=True,
                                description="The plans a service in this region may take, as `plan` takes them.",
                            ),
                            "service_types": Attribute(
                                computed=True,
                                description="The service types a service in this region may run, with their versions.",
                                nested=NestedAttributes(
                                    {
                                        "name": Attribute(
                                            type=cty.STRING,
                                            computed=True,
                                            description="The service type, as `service_type` takes it.",
                                        ),
                                        "versions": Attribute(
                                            type=cty.List(cty.STRING),
                                            computed=True,
                                            description="Its major versions, as `version` takes them, oldest first; "
                                            "the last is the default.",
                                        ),
                                    },
                                    "list",
                                ),
                            ),
                        },
                        "list",
                    ),
                ),
            },
        )
    )

    def read(self, config: dict[str, Any], diagnostics: Diagnostics) -> dict[str, Any]:
        with api_errors("list regions"):
            regions = client_of(self.provider_data).regions()
        return {
            "id": "regions",
            "regions": [
                {
                    "name": region["name"],
                    "description": region["description"],
                    "plans": region["plans"],
                    "service_types": [
                        {"name": offer["name"], "versions": offer["versions"]} for offer in region["service_types"]
                    ],
                }
                for region in regions
            ],
        }
