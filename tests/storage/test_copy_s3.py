"""The copy to another region between object stores: a real pgBackRest repository (real PostgreSQL 15, real
pgBackRest 2.45) copied from a directory to a Swift cluster, from Swift east to Swift west and back to a
directory, each copy checked with pgBackRest itself (`info` lists what `backup.info` lists, `verify` finds
nothing wrong), pointed at it by the copy's own `pgbackrest_options`.

The faults are real: a copy interrupted after a few objects, an unfinished multipart upload left in a
bucket, and the target's endpoint going down (a TCP relay in front of the real proxy, closed and reopened).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import BinaryIO

import pytest

from controlplane.engine.os_user import resolve_account
from controlplane.engine.pgbackrest import BackupInfo
from controlplane.engine.test_pgbackrest import STANZA, Source, base_dir, bin_dir, full, mark, source, switch_and_wait
from controlplane.settings import Region, Settings, load_settings
from controlplane.storage import s3
from controlplane.storage.bandwidth import Bandwidth
from controlplane.storage.directory import DirectoryRepository
from controlplane.storage.repository_copy import CopyCancelled, holds_wal, listed_backups, plan_copy, run_copy
from controlplane.storage.s3 import S3Repository
from controlplane.storage.stores import Repository, StoredObject, StoreUnavailable, location_of, open_repository
from controlplane.storage.test_repository_copy import copy_driver, holds_all_but_new_wal
from tests.storage.relay import Relay, self_signed_localhost
from tools.swift_cluster import SwiftRegions

__all__ = ["base_dir", "bin_dir", "full", "source"]  # fixtures, imported to be used here
PROJECT = "acme"


@pytest.fixture(scope="module")
def settings(swift_regions: SwiftRegions, base_dir: Path) -> Settings:
    """A control plane's settings with both Swift clusters as regions, read from their `[[regions]]` entries."""
    config = base_dir / "dbaas-cp.toml"
    config.write_text(swift_regions.toml())
    return load_settings(base_dir / "cp", None, config)


def s3_region(settings: Settings, name: str) -> Region:
    found = settings.region(name)
    assert found is not None and found.s3 is not None
    return found


def bucket(settings: Settings, region: str, container: str) -> Repository:
    """`acme`'s container in an S3 region, as the control plane names and opens it."""
    location = location_of(s3_region(settings, region), PROJECT, container)
    return open_repository(settings, location, resolve_account("postgres"))


def primary(source: Source) -> DirectoryRepository:
    return DirectoryRepository("local-east", source.repos[0].path, resolve_account("postgres"))


def assert_verified_copy(source: Source, copy: Repository, config_dir: Path) -> None:
    assert holds_all_but_new_wal(primary(source), copy)
    assert listed_backups(copy, STANZA) == listed_backups(primary(source), STANZA) != ()
    driver = copy_driver(source, copy, config_dir)
    assert [b.label for b in driver.info(repo=1)] == [b.label for b in source.pgbr.info(repo=1)]
    assert driver.verify(repo=1) == []


def test_directory_to_swift_to_swift_to_directory_copies_are_each_verified(
    source: Source, full: BackupInfo, settings: Settings, base_dir: Path
) -> None:
    mark(source.pg, "after-full-for-s3")
    segment = switch_and_wait(source)
    east, west = bucket(settings, "swift-east", "hops"), bucket(settings, "swift-west", "hops")
    store = base_dir / "back-home"
    store.mkdir(mode=0o711)
    home = DirectoryRepository("local-north", store / "hops", resolve_account("postgres"))
    # The first hop is capped (copy_bandwidth_mb): s3transfer is then handed the directory's files through the cap's
    # stream, which cannot seek, instead of the files themselves.
    hops = ((primary(source), east, Bandwidth(256 * 1024 * 1024)), (east, west, None), (west, home, None))
    for hop, (origin, copy, bandwidth) in enumerate(hops):
        plan = plan_copy(origin, copy, STANZA)
        assert full.label in plan.labels and plan.wal and plan.backup_files
        run_copy(plan, origin, copy, STANZA, bandwidth=bandwidth)
        assert holds_wal(copy, STANZA, segment)
        assert_verified_copy(source, copy, base_dir / f"hop-{hop}-pgbackrest")


@dataclasses.dataclass
class InterruptedAfter:
    """The real target, whose copy is cancelled once `objects` objects were written to it: an interruption
    at a chosen moment of a real copy (the only thing not real here is when the interruption comes)."""

    target: Repository
    objects: int
    cancel: threading.Event = dataclasses.field(default_factory=threading.Event)
    written: list[str] = dataclasses.field(default_factory=list)

    def __getattr__(self, name: str) -> object:
        return getattr(self.target, name)

    def open_read(self, key: str) -> AbstractContextManager[BinaryIO]:
        return self.target.open_read(key)

    def list(self, prefix: str) -> list[StoredObject]:
        return self.target.list(prefix)

    def write(self, key: str, source: BinaryIO, size: int, *, durable: bool = False) -> None:
        self.target.write(key, source, size, durable=durable)
        self.written.append(key)
        if len(self.written) >= self.objects:
            self.cancel.set()


def test_an_interrupted_copy_lists_nothing_then_resumes_and_a_further_pass_has_nothing_to_copy(
    source: Source, full: BackupInfo, settings: Settings, base_dir: Path
) -> None:
    east = bucket(settings, "swift-east", "resumed")
    plan = plan_copy(primary(source), east, STANZA)
    interrupted = InterruptedAfter(east, objects=4)
    with pytest.raises(CopyCancelled):
        run_copy(plan, primary(source), interrupted, STANZA, cancel=interrupted.cancel)  # type: ignore[arg-type]
    assert listed_backups(east, STANZA) == (), "a half-made copy lists no backup"
    half = plan_copy(primary(source), east, STANZA)
    assert 0 < len(half.pending) < len(plan.pending), "the objects already copied are not copied again"

    run_copy(half, primary(source), east, STANZA)
    assert holds_all_but_new_wal(primary(source), east), "a pass after a complete one has nothing to copy"
    assert_verified_copy(source, east, base_dir / "resumed-pgbackrest")


def test_an_unfinished_multipart_upload_is_swept_once_abandoned(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    east = bucket(settings, "swift-east", "swept")
    east.create()
    client = s3.client(s3_region(settings, "swift-east"))
    name = location_of(s3_region(settings, "swift-east"), PROJECT, "swept").rsplit("/", 1)[1]
    started = client.create_multipart_upload(Bucket=name, Key=f"archive/{STANZA}/15-1/0000000100000000/half")
    client.upload_part(Bucket=name, Key=started["Key"], UploadId=started["UploadId"], PartNumber=1, Body=b"x" * 1024)

    def unfinished() -> list[str]:
        return [upload["UploadId"] for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", [])]

    assert east.list("archive/") == [], "an unfinished upload is no object"
    east.sweep_temporary()
    assert unfinished() == [started["UploadId"]], "an upload in progress may be a live copy's"
    # As if an hour had passed (a minute more: the store stamps an upload with its own clock, to the second).
    monkeypatch.setattr(s3, "_ABANDONED_AFTER", -60.0)
    east.sweep_temporary()
    assert unfinished() == []


@pytest.fixture
def relay(settings: Settings, base_dir: Path) -> Iterator[Relay]:
    endpoint = s3_region(settings, "swift-west").s3
    assert endpoint is not None
    found = Relay(endpoint.port, *self_signed_localhost(base_dir))
    found.up()
    yield found
    found.down()


def test_the_target_endpoint_down_is_store_unavailable_and_the_copy_catches_up_after(
    source: Source, full: BackupInfo, settings: Settings, relay: Relay, base_dir: Path
) -> None:
    west = s3_region(settings, "swift-west")
    assert west.s3 is not None
    # The same cluster reached through the relay: a region of its own name (clients are made once per region).
    relayed = dataclasses.replace(
        west, name="swift-west-relayed", s3=dataclasses.replace(west.s3, endpoint=f"https://localhost:{relay.port}")
    )
    copy = S3Repository(relayed, bucket=location_of(west, PROJECT, "relayed").rsplit("/", 1)[1])
    plan = plan_copy(primary(source), copy, STANZA)
    relay.down()
    with pytest.raises(StoreUnavailable, match="swift-west-relayed") as failure:
        run_copy(plan, primary(source), copy, STANZA)
    assert f"localhost:{relay.port}" in str(failure.value), "the message names the endpoint"
    with pytest.raises(StoreUnavailable):
        plan_copy(primary(source), copy, STANZA)

    relay.up()
    run_copy(plan_copy(primary(source), copy, STANZA), primary(source), copy, STANZA)
    # Checked through the cluster's own endpoint: the copy is in west's bucket.
    assert_verified_copy(source, bucket(settings, "swift-west", "relayed"), base_dir / "relayed-pgbackrest")
