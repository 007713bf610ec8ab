"""Backup to another region whose store is S3, through the real control plane and its replicator: a service of
local-east (a directory) copies to swift-west (a real Swift cluster, reached through a relay that makes its
faults real). The endpoint going down, throttling (503 SlowDown) and a server error (500) each show as a
failing copy, named in the replicas and the report, and each is caught up once the endpoint answers again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from controlplane.storage.stores import bucket_name
from tests.controlplane.cp_process import (
    ControlPlane,
    remove_tree,
    stop_leftover_servers,
    unprivileged_reachable_dir,
    wait_for_gone,
)
from tests.controlplane.test_backups import backup
from tests.controlplane.test_replication import (
    PROJECT,
    create_service,
    replica,
    report,
    stanza_of,
    wait_for_replica,
    wait_until,
)
from tests.storage.relay import Relay, bundle, self_signed_localhost
from tools.swift_cluster import SwiftRegions, s3_client

REGION = "swift-west"


@pytest.fixture(scope="module")
def relay(swift_regions: SwiftRegions) -> Iterator[tuple[Relay, Path]]:
    """The relay in front of swift-west's proxy, and a CA file trusting both the proxy and the relay."""
    work = unprivileged_reachable_dir("dbaas-relay-")
    west = swift_regions[REGION]
    endpoint_port = int(west.endpoint.rsplit(":", 1)[1])
    certificate, key = self_signed_localhost(work)
    found = Relay(endpoint_port, certificate, key)
    found.up()
    yield found, bundle(work / "ca-bundle.pem", west.ca_file, certificate)
    found.down()
    remove_tree(work)


@pytest.fixture(scope="module")
def plane(swift_regions: SwiftRegions, relay: tuple[Relay, Path]) -> Iterator[ControlPlane]:
    through, ca_file = relay
    west = swift_regions[REGION]
    data_dir = unprivileged_reachable_dir("dbaas-cp-replicator-s3-")
    config = data_dir / "dbaas-cp.toml"
    config.write_text(
        "replication_interval = 0.5\nlag_sample_seconds = 1\n"
        '[[regions]]\nname = "local-east"\n'
        f"[[regions]]\nname = {json.dumps(REGION)}\n[regions.s3]\n"
        f"endpoint = {json.dumps(f'https://localhost:{through.port}')}\nregion = {json.dumps(west.region)}\n"
        f"ca_file = {json.dumps(str(ca_file))}\ncredentials_file = {json.dumps(str(west.credentials_file))}\n"
    )
    control_plane = ControlPlane(data_dir, config).start()
    yield control_plane
    control_plane.stop()
    stop_leftover_servers(data_dir, config)
    remove_tree(data_dir)


@pytest.fixture(scope="module")
def acme(plane: ControlPlane) -> Iterator[httpx.Client]:
    with plane.client(plane.create_token("acme")) as client:
        yield client


def west_report(client: httpx.Client) -> dict[str, object]:
    [found] = report(client, "ledger")["regions"]
    assert found["region"] == REGION
    return dict(found)


def test_faults_of_an_s3_region_show_as_failing_and_are_caught_up(
    acme: httpx.Client, relay: tuple[Relay, Path]
) -> None:
    through, _ = relay
    create_service(acme, "ledger", [REGION])
    backup(acme, f"{PROJECT}/services/ledger/backups", name="base")
    wait_for_replica(acme, "ledger", "base", REGION, "Succeeded")
    wait_until(lambda: west_report(acme)["status"] == "ok", "the report to say ok")

    faults = (
        ("down", through.down, through.up, f"localhost:{through.port}"),
        ("throttled", lambda: through.answer(503, "SlowDown"), through.forward, "SlowDown"),
        ("broken", lambda: through.answer(500, "InternalError"), through.forward, "InternalError"),
    )
    for name, start, end, reason in faults:
        start()
        backup(acme, f"{PROJECT}/services/ledger/backups", name=name)  # the primary is unaffected
        failed = wait_for_replica(acme, "ledger", name, REGION, "Failed")
        assert REGION in failed["state_message"] and reason in failed["state_message"], failed
        failing = wait_until(lambda: (found := west_report(acme))["status"] == "failing" and found, "failing")
        assert reason in str(failing["message"]) and float(str(failing["lag_seconds"])) > 0, failing
        end()
        wait_for_replica(acme, "ledger", name, REGION, "Succeeded")
        caught_up = wait_until(lambda: (found := west_report(acme))["status"] == "ok" and found, "the copy to catch up")
        assert caught_up["message"] is None
        assert (replica(acme, "ledger", "base", REGION) or {})["state"] == "Succeeded"


def test_a_backup_deleted_while_the_region_is_down_is_expired_there_after_the_next_full_backup(
    plane: ControlPlane, acme: httpx.Client, relay: tuple[Relay, Path], swift_regions: SwiftRegions
) -> None:
    through, _ = relay
    service = f"{PROJECT}/services/ledger"  # made by the test above, its copies caught up
    gone = backup(acme, f"{service}/backups", name="doomed")
    wait_for_replica(acme, "ledger", "doomed", REGION, "Succeeded")
    label = gone["backup_handle"].rsplit("/", 1)[1]
    # Seen at the cluster itself, not through the relay.
    west, name = s3_client(swift_regions[REGION]), bucket_name("acme", "default")
    prefix = f"backup/{stanza_of(plane, 'ledger')}/{label}/"

    def copied() -> int:
        return int(west.list_objects_v2(Bucket=name, Prefix=prefix)["KeyCount"])

    assert copied() > 0
    through.down()
    try:
        assert acme.delete(f"{service}/backups/doomed").status_code == 202
        wait_for_gone(acme, f"{service}/backups/doomed")
        assert copied() > 0, "a region that cannot be reached keeps the copy for now"
    finally:
        through.up()
    backup(acme, f"{service}/backups", name="next-full")
    wait_until(lambda: copied() == 0, f"{label} to be expired in {REGION}")
