"""The dbaas provider: its configuration and the resources it offers."""

from __future__ import annotations

import os
from typing import Any

from provider.config import ProviderConfig
from provider.cty import types as cty
from provider.data_sources import DATA_SOURCES
from provider.framework.diagnostics import Diagnostics
from provider.framework.resource import Provider
from provider.framework.schema import Attribute, Block, Schema
from provider.framework.validators import Matches
from provider.resources import RESOURCES

DEFAULT_ENDPOINT = "http://127.0.0.1:8750"


class DbaasProvider(Provider):
    type_name = "dbaas"
    schema = Schema(
        Block(
            description="Manage database services, their backups, backup strategies and forks as code.",
            attributes={
                "endpoint": Attribute(
                    type=cty.STRING,
                    optional=True,
                    validators=(Matches(r"https?://\S+", "an http(s) URL"),),
                    description=f"URL of the control plane. Defaults to `DBAAS_ENDPOINT`, then `{DEFAULT_ENDPOINT}`.",
                ),
                "token": Attribute(
                    type=cty.STRING,
                    optional=True,
                    sensitive=True,
                    description="API token of the project. Defaults to `DBAAS_TOKEN`.",
                ),
                "project": Attribute(
                    type=cty.STRING,
                    optional=True,
                    description="Default project of every resource. Defaults to `DBAAS_PROJECT`.",
                ),
            },
        )
    )
    resources = RESOURCES
    data_sources = DATA_SOURCES
    _configured: ProviderConfig | None = None

    def configure(self, config: dict[str, Any], terraform_version: str, diagnostics: Diagnostics) -> Any:
        from provider.client.api import Client

        if self._configured is not None:
            # A provider serving for TF_REATTACH_PROVIDERS is configured once per command: the connections of
            # the previous configuration's client would stay open for the life of the process.
            self._configured.client.close()
        endpoint = config.get("endpoint") or os.environ.get("DBAAS_ENDPOINT") or DEFAULT_ENDPOINT
        token = config.get("token") or os.environ.get("DBAAS_TOKEN")
        try:
            client = Client(endpoint, token, user_agent=f"terraform-provider-dbaas (Terraform {terraform_version})")
        except ValueError as err:  # a port out of range, no host, or DBAAS_ENDPOINT, which no validator sees
            self._configured = None
            diagnostics.error("Invalid control plane endpoint", str(err), ("endpoint",))
            return None
        self._configured = ProviderConfig(
            endpoint=endpoint,
            token=token,
            project=config.get("project") or os.environ.get("DBAAS_PROJECT"),
            terraform_version=terraform_version,
            client=client,
        )
        return self._configured
