"""terraform-provider-dbaas: the plugin executable Terraform starts."""

from __future__ import annotations

import os
import sys

from provider.plugin.serve import PluginSpec
from provider.plugin.serve import main as serve_main

PROVIDER_ADDRESS = "registry.terraform.io/dbaas/dbaas"
# Everything the schema is made of lives in this package.
SCHEMA_SOURCES = (os.path.dirname(os.path.abspath(__file__)),)


def make_servicer() -> object:
    from provider.dbaas import DbaasProvider
    from provider.framework.server import ProviderServer

    return ProviderServer(DbaasProvider())


def main() -> int:
    spec = PluginSpec(PROVIDER_ADDRESS, make_servicer, "provider.terraform-provider-dbaas", SCHEMA_SOURCES)
    return serve_main(spec, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
