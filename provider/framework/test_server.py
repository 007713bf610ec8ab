"""The framework's server answering refreshes and plans of the testing provider's items (files in a directory):
an unchanged object is answered with the very state Terraform sent, a changed one with the change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from provider.framework.server import ProviderServer
from provider.framework.values import decode_dynamic, encode_dynamic
from provider.plugin import tfplugin6
from provider.plugin.grpc_server import CallContext
from tests.e2e.testing_provider import Item, TestingProvider

VALUE_TYPE = Item.schema.cty_type()


@pytest.fixture
def server(tmp_path: Path) -> ProviderServer:
    server = ProviderServer(TestingProvider())
    config = encode_dynamic({"directory": str(tmp_path)}, TestingProvider.schema.cty_type())
    assert not server.ConfigureProvider(
        tfplugin6.ConfigureProvider.Request(config=config), CallContext("test")
    ).diagnostics
    return server


def created(server: ProviderServer) -> Any:
    """The state (DynamicValue) of a new item, as Terraform holds it after the apply."""
    planned: dict[str, Any] = dict.fromkeys(VALUE_TYPE.attribute_types)
    planned.update(name="one", value="v1", settings={"size": 1, "tier": None}, color="blue")
    encoded = encode_dynamic(planned, VALUE_TYPE)
    request = tfplugin6.ApplyResourceChange.Request(type_name="testing_item", planned_state=encoded, config=encoded)
    answer = server.ApplyResourceChange(request, CallContext("test"))
    assert not answer.diagnostics
    return answer.new_state


def test_an_unchanged_object_is_answered_with_the_state_terraform_sent(server: ProviderServer, tmp_path: Path) -> None:
    state = created(server)
    read = server.ReadResource(
        tfplugin6.ReadResource.Request(type_name="testing_item", current_state=state), CallContext("test")
    )
    assert read.new_state == state and not read.diagnostics

    stored = next(tmp_path.glob("*.json"))
    stored.write_text(json.dumps(dict(json.loads(stored.read_text()), value="changed behind terraform")))
    read = server.ReadResource(
        tfplugin6.ReadResource.Request(type_name="testing_item", current_state=state), CallContext("test")
    )
    assert decode_dynamic(read.new_state, VALUE_TYPE)["value"] == "changed behind terraform"


def test_a_plan_without_changes_is_the_prior_state_as_sent(server: ProviderServer) -> None:
    state = created(server)
    prior = decode_dynamic(state, VALUE_TYPE)
    config = encode_dynamic(dict(dict.fromkeys(VALUE_TYPE.attribute_types), name="one", value="v1"), VALUE_TYPE)

    def plan(proposed: dict[str, Any]) -> Any:
        request = tfplugin6.PlanResourceChange.Request(
            type_name="testing_item",
            prior_state=state,
            proposed_new_state=encode_dynamic(proposed, VALUE_TYPE),
            config=config,
        )
        answer = server.PlanResourceChange(request, CallContext("test"))
        assert not answer.diagnostics
        return answer

    unchanged = plan(prior)
    assert unchanged.planned_state == state and not unchanged.requires_replace
    changed = plan(dict(prior, value="v2"))
    assert decode_dynamic(changed.planned_state, VALUE_TYPE)["value"] == "v2"
    assert changed.planned_state != state
