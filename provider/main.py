"""terraform-provider-dbaas: the plugin executable Terraform starts."""

from __future__ import annotations

import sys

from provider.plugin.serve import PluginSpec
from provider.plugin.serve import main as serve_main

PROVIDER_ADDRESS = "registry.terraform.io/dbaas/dbaas"


def make_servicer() -> object:
    from provider.dbaas import DbaasProvider
    from provider.framework.server import ProviderServer

    return ProviderServer(DbaasProvider())


def main() -> int:
    return serve_main(PluginSpec(PROVIDER_ADDRESS, make_servicer, "provider.terraform-provider-dbaas"), sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
