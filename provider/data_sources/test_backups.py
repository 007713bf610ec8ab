"""data "dbaas_backups": each listed backup carries its last restore test."""

from __future__ import annotations

from typing import Any, cast

from provider.client.api import Client
from provider.client.models import Backup as ApiBackup
from provider.config import ProviderConfig
from provider.cty import msgpack_codec
from provider.data_sources.backups import BackupsData
from provider.framework.diagnostics import Diagnostics
from provider.resources.test_backup import RESTORE_TEST, api_backup


class BackupsEndpoint:
    """GET …/backups as the control plane answers it."""

    def __init__(self, listed: list[ApiBackup]) -> None:
        self.listed = listed

    def backups(self, project: str, service: str, **filters: Any) -> list[ApiBackup]:
        return self.listed


def test_listed_backups_carry_their_last_restore_test() -> None:
    listed = [api_backup(), api_backup(name="tested", ready_to_use=False, last_restore_test=RESTORE_TEST)]
    provider = ProviderConfig(
        endpoint="http://cp",
        token=None,
        project="acme",
        terraform_version="1.11.4",
        client=cast(Client, BackupsEndpoint(listed)),
    )
    value = BackupsData(provider).read(
        {"project": None, "service": "orders", "state": None, "labels": None}, Diagnostics()
    )
    assert [b["last_restore_test"] for b in value["backups"]] == [None, RESTORE_TEST]
    value_type = BackupsData.schema.cty_type()
    assert msgpack_codec.decode(msgpack_codec.encode(value, value_type), value_type) == value
