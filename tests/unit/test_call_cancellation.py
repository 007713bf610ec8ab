"""A create waiting in ApplyResourceChange ends when Terraform gives up on the call (the gRPC server sets the call
context's `cancelled`: the client cancelled, hung up or let its deadline pass) and when it stops the provider;
either way the object it made stays in state."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from provider.framework.server import ProviderServer
from provider.framework.values import decode_dynamic, encode_dynamic
from provider.plugin import tfplugin6
from provider.plugin.grpc_server import CallContext
from tests.e2e.testing_provider import Item, TestingProvider


def slow_create(server: ProviderServer, context: CallContext) -> Any:
    value_type = Item.schema.cty_type()
    planned: dict[str, Any] = dict.fromkeys(value_type.attribute_types)
    planned.update(name="slow", create_delay=60, settings={"size": 1, "tier": None}, color="blue")
    request = tfplugin6.ApplyResourceChange.Request(
        type_name="testing_item",
        planned_state=encode_dynamic(planned, value_type),
        config=encode_dynamic(planned, value_type),
    )
    return server.ApplyResourceChange(request, context)


@pytest.fixture
def server(tmp_path: Path) -> ProviderServer:
    server = ProviderServer(TestingProvider())
    config = {"directory": str(tmp_path)}
    provider_type = TestingProvider.schema.cty_type()
    answer = server.ConfigureProvider(
        tfplugin6.ConfigureProvider.Request(config=encode_dynamic(config, provider_type)), CallContext("test")
    )
    assert not answer.diagnostics
    return server


@pytest.mark.parametrize("give_up", ["the call is cancelled", "the provider is stopped"])
def test_a_waiting_create_ends_and_keeps_its_object(server: ProviderServer, give_up: str) -> None:
    context = CallContext("test")
    answers: list[Any] = []
    call = threading.Thread(target=lambda: answers.append(slow_create(server, context)))
    call.start()
    time.sleep(0.3)  # the create has written its object and waits out its 60 s delay
    if give_up == "the call is cancelled":
        context.cancelled.set()
    else:
        server.StopProvider(tfplugin6.StopProvider.Request(), CallContext("test"))
    call.join(timeout=10)
    assert not call.is_alive(), "the create still waits"
    (answer,) = answers
    assert [d.summary for d in answer.diagnostics] == ["Interrupted"]
    state = decode_dynamic(answer.new_state, Item.schema.cty_type())
    assert state["name"] == "slow" and state["id"], "the object made stays in state"
