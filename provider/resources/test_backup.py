"""dbaas_backup: its last restore test in the schema, in state and in plans."""

from __future__ import annotations

from typing import Any, cast

from provider.client.models import Backup as ApiBackup
from provider.cty import msgpack_codec
from provider.cty import types as cty
from provider.cty.values import UNKNOWN
from provider.framework.diagnostics import Diagnostics
from provider.framework.resource import PlanRequest
from provider.resources.backup import Backup, state_of

RESTORE_TEST = {
    "state": "failed",
    "tested_at": "2026-11-21T05:00:03.5Z",
    "duration_seconds": 17.25,
    "message": "pgbackrest restore of stanza acme-orders-1 failed (exited with status 55)",
}


def api_backup(**changes: Any) -> ApiBackup:
    """A backup as the control plane answers it (BackupPublic)."""
    answer: ApiBackup = {
        "project": "acme",
        "service": "orders",
        "name": "nightly",
        "description": "",
        "labels": {},
        "parent": None,
        "incremental": False,
        "type": "full",
        "container": "default",
        "import_source": None,
        "state": "Succeeded",
        "state_message": None,
        "ready_to_use": True,
        "size_bytes": 31720477,
        "backup_handle": "pgbackrest:/srv/east/default#acme-orders-1/20261121-020000F",
        "backup_plugin": "pgbackrest",
        "region": "local-east",
        "started_at": "2026-11-21T02:00:00Z",
        "finished_at": "2026-11-21T02:00:03Z",
        "recovery_window": {"start": "2026-11-21T02:00:03Z", "end": None},
        "replicas": [],
        "verify_state": None,
        "verify_message": None,
        "verified_at": None,
        "last_restore_test": None,
        "created_at": "2026-11-21T02:00:00Z",
    }
    return cast(ApiBackup, {**answer, **changes})


def test_last_restore_test_is_a_computed_object() -> None:
    attribute = Backup.schema.block.attributes["last_restore_test"]
    assert attribute.computed and not attribute.optional and not attribute.required
    assert attribute.cty_type() == cty.object_type(
        {"state": cty.STRING, "tested_at": cty.STRING, "duration_seconds": cty.NUMBER, "message": cty.STRING}
    )


def test_state_holds_the_last_restore_test_and_null_until_tested() -> None:
    untested = state_of(api_backup(), {})
    tested = state_of(api_backup(ready_to_use=False, last_restore_test=RESTORE_TEST), {})
    assert untested["last_restore_test"] is None
    assert tested["last_restore_test"] == RESTORE_TEST and tested["ready_to_use"] is False
    value_type = Backup.schema.cty_type()
    for state in (untested, tested):
        assert msgpack_codec.decode(msgpack_codec.encode(state, value_type), value_type) == state


def test_an_update_in_place_leaves_what_a_restore_test_changes_unknown() -> None:
    prior = state_of(api_backup(last_restore_test=RESTORE_TEST, ready_to_use=False), {})
    unchanged = PlanRequest(prior=prior, config=prior, planned=dict(prior), private=b"", diagnostics=Diagnostics())
    Backup().modify_plan(unchanged)
    assert unchanged.planned == prior, "no change, no diff"
    relabelled = {**prior, "labels": {"team": "data"}}
    update = PlanRequest(prior=prior, config=relabelled, planned=relabelled, private=b"", diagnostics=Diagnostics())
    Backup().modify_plan(update)
    assert update.planned["last_restore_test"] is UNKNOWN and update.planned["ready_to_use"] is UNKNOWN
    assert update.planned["size_bytes"] == prior["size_bytes"], "a finished backup's own values stay known"
