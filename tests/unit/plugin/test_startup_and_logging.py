import json
import logging
import subprocess
import sys
from datetime import datetime

from provider.plugin.hclog import HclogFormatter, level_from_environment
from tests.plugin_process import REPO

HEAVY = (
    "hpack",
    "google.protobuf",
    "msgpack",
    "ssl",
    "typing",
    "re",
    "subprocess",
    "provider.framework",
    "provider.cty",
    "tests.pb",
)


def modules_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds once it has run `code` (Python statements) in the repository."""
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))\n"
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    return run.stdout.split()


def within(loaded: list[str], packages: tuple[str, ...]) -> list[str]:
    return [name for name in loaded if any(name == p or name.startswith(p + ".") for p in packages)]


def test_nothing_heavy_is_imported_before_openssl_starts() -> None:
    # provider.main and the identity module are all that run before openssl starts making the certificate; the
    # rest is imported while it works.
    assert within(modules_after("import provider.main, provider.plugin.identity"), HEAVY) == []


# The first RPC of every launch is GetProviderSchema: what it does not use waits for the RPC that does.
NOT_FOR_SCHEMAS = (
    "msgpack",
    "json",
    "decimal",
    "provider.cty.msgpack_codec",
    "provider.cty.json_codec",
    "provider.framework.plan",
    "http.client",
    "provider.client",
)
PLUGIN_SERVER = "from provider.plugin import grpc_server, go_plugin_services, hclog, identity, serve, tls"


def test_answering_the_schema_imports_no_codec_client_or_planner() -> None:
    code = (
        f"{PLUGIN_SERVER}\n"
        "from provider.main import make_servicer\n"
        "from provider.plugin import tfplugin6\n"
        "make_servicer().GetProviderSchema(tfplugin6.GetProviderSchema.Request(), None)"
    )
    assert within(modules_after(code), NOT_FOR_SCHEMAS) == []


def test_serving_a_plan_makes_no_dataclasses_and_imports_no_protobuf_runtime() -> None:
    # Every launch makes the provider's value classes again: a frozen dataclass costs ~0.4 ms to make on
    # Python 3.11 (and the module imports inspect), a NamedTuple a tenth of that. Importing protobuf's
    # runtime costs ~15 ms of every launch that decodes a request; provider.plugin.tfplugin6 ~2 ms.
    code = (
        f"{PLUGIN_SERVER}\n"
        "from provider.main import make_servicer\n"
        "from provider import config\n"
        "from provider.framework import plan\n"
        "from provider.client import api\n"
        "from provider.plugin.go_plugin_services import provider_methods\n"
        "provider_methods(make_servicer(), 'registry.terraform.io/dbaas/dbaas')"
    )
    loaded = modules_after(code)
    assert "provider.client.connections" in loaded and "provider.plugin.tfplugin6" in loaded
    assert within(loaded, ("dataclasses", "inspect", "google", "tests.pb")) == []


def test_hclog_line_as_terraform_parses_it() -> None:
    record = logging.LogRecord("provider.framework.server", logging.WARNING, __file__, 1, "slow %s", ("read",), None)
    entry = json.loads(HclogFormatter("provider.terraform-provider-dbaas").format(record))
    assert entry["@level"] == "warn" and entry["@message"] == "slow read"
    assert entry["@module"] == "provider.terraform-provider-dbaas.provider.framework.server"
    # go-hclog's TimeFormatJSON: 2006-01-02T15:04:05.000000Z07:00
    datetime.strptime(entry["@timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert len(entry["@timestamp"].split(".")[1]) == len("000000Z")


def test_levels_follow_tf_log_provider_then_tf_log() -> None:
    assert level_from_environment({"TF_LOG_PROVIDER": "DEBUG", "TF_LOG": "ERROR"}) == logging.DEBUG
    assert level_from_environment({"TF_LOG": "trace"}) == 5
    assert level_from_environment({"TF_LOG": "JSON"}) == 5
    assert level_from_environment({"TF_LOG_PROVIDER": "OFF"}) > logging.CRITICAL
    assert level_from_environment({}) == logging.WARNING


def test_state_without_fractions_is_read_without_decimal_and_fractions_stay_exact() -> None:
    # UpgradeResourceState reads every resource's raw state: decimal costs ~1 ms to import and most states
    # hold no fraction.
    code = 'from provider.framework.values import load_state_json\nload_state_json(b\'{"n": 12, "s": "1.5"}\')'
    assert within(modules_after(code), ("decimal", "_decimal")) == []
    from decimal import Decimal

    from provider.framework.values import load_state_json

    assert load_state_json(b'{"n": 0.1, "big": 12345678901234567890.5}') == {
        "n": Decimal("0.1"),
        "big": Decimal("12345678901234567890.5"),
    }
