"""The test provider's plugin executable: `python -m tests.e2e.testing_plugin`.

It starts the way the dbaas provider's (provider/main.py) does, importing only the plugin server: the
provider (tests/e2e/testing_provider.py) and the framework are imported by the first call that needs them,
so that the benchmarks' launches cost what the real provider's cost.
"""

from __future__ import annotations

import os
import sys

from provider.main import SCHEMA_SOURCES
from provider.plugin.serve import PluginSpec
from provider.plugin.serve import main as serve_main

PROVIDER_ADDRESS = "registry.terraform.io/example/testing"
# The framework's sources and the provider's own define its schema.
PROVIDER_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "testing_provider.py")


def make_servicer() -> object:
    from provider.framework.server import ProviderServer
    from tests.e2e.testing_provider import TestingProvider

    return ProviderServer(TestingProvider())


if __name__ == "__main__":
    sys.exit(
        serve_main(
            PluginSpec(PROVIDER_ADDRESS, make_servicer, "provider.testing", (*SCHEMA_SOURCES, PROVIDER_SOURCE)),
            sys.argv[1:],
        )
    )
