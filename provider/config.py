"""The provider's configuration, as the framework hands it to every resource and data source (`provider_data`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from provider.client.api import Client


class ProviderConfig(NamedTuple):
    """The default project and the control plane's client, made by ConfigureProvider."""

    endpoint: str
    token: str | None
    project: str | None
    terraform_version: str
    client: Client
