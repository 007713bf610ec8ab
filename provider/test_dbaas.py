from typing import Any

import pytest

from provider.cty import msgpack_codec
from provider.dbaas import DEFAULT_ENDPOINT, DbaasProvider
from provider.framework.diagnostics import DiagnosticError, Diagnostics
from provider.framework.server import ProviderServer
from provider.plugin import tfplugin6
from provider.resources.common import client_of


def _config(**values: Any) -> Any:
    config = {"endpoint": None, "token": None, "project": None, **values}
    return tfplugin6.DynamicValue(msgpack=msgpack_codec.encode(config, DbaasProvider.schema.cty_type()))


def test_bad_endpoint_is_an_error_on_the_endpoint_attribute() -> None:
    response = ProviderServer(DbaasProvider()).ValidateProviderConfig(
        tfplugin6.ValidateProviderConfig.Request(config=_config(endpoint="not-a-url")), None
    )
    [diagnostic] = response.diagnostics
    assert diagnostic.severity == tfplugin6.Diagnostic.ERROR
    assert "endpoint" in diagnostic.summary
    assert [step.attribute_name for step in diagnostic.attribute.steps] == ["endpoint"]


@pytest.mark.parametrize(
    ("configured", "environment", "named"),
    [
        ("http://localhost:99999", None, "invalid port"),
        ("http://:8080", None, "names no host"),
        (None, "ftp://cp.example", "http:// or https://"),
    ],
)
def test_an_endpoint_no_client_can_use_is_an_error_on_the_endpoint_attribute(
    monkeypatch: pytest.MonkeyPatch, configured: str | None, environment: str | None, named: str
) -> None:
    if environment is not None:
        monkeypatch.setenv("DBAAS_ENDPOINT", environment)
    diagnostics = Diagnostics()
    config = {"endpoint": configured, "token": "t", "project": "acme"}
    assert DbaasProvider().configure(config, "1.11.4", diagnostics) is None
    [diagnostic] = diagnostics.items
    assert diagnostic.summary == "Invalid control plane endpoint" and named in diagnostic.detail
    assert diagnostic.path == ("endpoint",)


def test_environment_fills_what_the_configuration_leaves_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBAAS_TOKEN", "from-env")
    monkeypatch.setenv("DBAAS_PROJECT", "acme")
    monkeypatch.delenv("DBAAS_ENDPOINT", raising=False)
    diagnostics: Any = None
    configured = DbaasProvider().configure({"endpoint": None, "token": None, "project": "mine"}, "1.11.4", diagnostics)
    assert (configured.endpoint, configured.token, configured.project) == (DEFAULT_ENDPOINT, "from-env", "mine")


def test_a_new_configuration_closes_the_previous_client() -> None:
    provider = DbaasProvider()  # as one provider process serves command after command with --debug
    config = {"endpoint": None, "token": "t", "project": "acme"}
    first = provider.configure(config, "1.11.4", Diagnostics())
    second = provider.configure(config, "1.11.4", Diagnostics())
    assert first.client.closed and not second.client.closed


def test_a_resource_of_a_provider_not_configured_says_so() -> None:
    with pytest.raises(DiagnosticError, match="not configured"):
        client_of(None)
