"""terraform-provider-dbaas: the plugin executable Terraform starts."""

from __future__ import annotations

import os
import sys

from provider.plugin.serve import PluginSpec
from provider.plugin.serve import main as serve_main

PROVIDER_ADDRESS = "registry.terraform.io/dbaas/dbaas"
# Everything the schema is made of lives in this package.
SCHEMA_SOURCES = (os.path.dirname(os.path.abspath(__file__)),)
# In a release, the schema answer made when it was built, beside the code (packaging/build_package.py).
SHIPPED_SCHEMA = "provider-schema.bin"


def make_servicer() -> object:
    from provider.dbaas import DbaasProvider
    from provider.framework.server import ProviderServer

    return ProviderServer(DbaasProvider())


def plugin_spec(release_lib: str | None = None) -> PluginSpec:
    """`release_lib`: the directory of a release's code, which holds its schema answer (SHIPPED_SCHEMA)."""
    shipped_schema = os.path.join(release_lib, SHIPPED_SCHEMA) if release_lib else None
    return PluginSpec(
        PROVIDER_ADDRESS, make_servicer, "provider.terraform-provider-dbaas", SCHEMA_SOURCES, shipped_schema
    )


def main(release_lib: str | None = None) -> int:
    return serve_main(plugin_spec(release_lib), sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
