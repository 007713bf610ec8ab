"""dbaas_backup_strategy: restore_test_schedule reaches the control plane and comes back in state."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, cast

from provider.client.api import Client
from provider.config import ProviderConfig
from provider.cty import types as cty
from provider.framework.diagnostics import Diagnostics
from provider.framework.resource import ApplyRequest
from provider.resources.backup_strategy import BackupStrategy


class StrategyEndpoint:
    """PUT …/backup_strategy as the control plane answers it: what it stored."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.create_only: list[bool] = []

    def put_strategy(
        self, project: str, service: str | None, body: Mapping[str, Any], *, create_only: bool
    ) -> dict[str, Any]:
        self.create_only.append(create_only)
        self.bodies.append(dict(body))
        stored = {"schedule": None, "retention": None, "restore_test_schedule": None, **body}
        return {"project": project, "service": service, **stored, "created_at": "2026-11-21T00:00:00Z"}


def put(planned: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the body sent, the state kept) when `planned` is applied."""
    endpoint = StrategyEndpoint()
    provider = ProviderConfig(
        endpoint="http://cp", token=None, project="acme", terraform_version="1.11.4", client=cast(Client, endpoint)
    )
    full = {name: None for name in BackupStrategy.schema.block.attributes} | planned
    request = ApplyRequest(
        prior=None, planned=full, config=full, private=b"", diagnostics=Diagnostics(), stop=threading.Event()
    )
    BackupStrategy(provider).create(request)
    assert request.state is not None
    assert endpoint.create_only == [True], "a create never replaces a strategy declared elsewhere"
    return endpoint.bodies[0], request.state


def test_restore_test_schedule_is_an_optional_string() -> None:
    attribute = BackupStrategy.schema.block.attributes["restore_test_schedule"]
    assert attribute.optional and not attribute.computed and attribute.cty_type() == cty.STRING


def test_restore_test_schedule_is_sent_and_kept() -> None:
    body, state = put({"container": "nightly", "restore_test_schedule": "0 5 * * 0"})
    assert body["restore_test_schedule"] == "0 5 * * 0" and state["restore_test_schedule"] == "0 5 * * 0"
    body, state = put({"container": "nightly"})
    assert body["restore_test_schedule"] is None and state["restore_test_schedule"] is None, "absent: no tests"
