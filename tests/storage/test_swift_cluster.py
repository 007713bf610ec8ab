"""The Swift clusters of tools/swift_cluster.py, driven by real pgBackRest 2.45 as the `postgres` account.

What the control plane will rely on: pgBackRest reaches a cluster over TLS at `localhost` with the cluster's CA,
path-style URIs and the region's name; it archives WAL, takes a full backup, lists it and restores a server
that starts with the data. The two regions are independent stores, and `down` leaves nothing running.
"""

from __future__ import annotations

import json
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from controlplane.engine import marks
from controlplane.engine.os_user import resolve_account
from controlplane.engine.plans import PLANS
from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import Postgres
from tests.postgres_servers import PostgresFactory
from tools import swift_cluster
from tools.swift_cluster import Region, SwiftRegions

REPO_ROOT = Path(__file__).resolve().parents[2]
STANZA = "swift"


def pgbackrest_config(region: Region, bucket: str, work: Path, source: Postgres, superuser: str) -> str:
    """A pgBackRest configuration with the region's bucket as repo1 and `source` as the stanza's server."""
    endpoint = urlsplit(region.endpoint)
    key, secret = swift_cluster.read_credentials(region.credentials_file)
    return f"""[global]
log-path={work / "log"}
lock-path={work / "lock"}
log-level-file=off
start-fast=y
repo1-type=s3
repo1-s3-bucket={bucket}
repo1-s3-endpoint={endpoint.hostname}
repo1-storage-port={endpoint.port}
repo1-s3-region={region.region}
repo1-s3-uri-style=path
repo1-storage-ca-file={region.ca_file}
repo1-s3-key={key}
repo1-s3-key-secret={secret}
repo1-path=/pgbackrest
repo1-bundle=y
repo1-retention-full=2

[{STANZA}]
pg1-path={source.data_dir}
pg1-port={source.port}
pg1-socket-path={source.socket_dir}
pg1-user={superuser}
"""


def test_pgbackrest_archives_backs_up_and_restores_through_swift(
    swift_regions: SwiftRegions, postgres_factory: PostgresFactory, postgres_base_dir: Path
) -> None:
    region = swift_regions["swift-east"]
    bucket = "pgbackrest-east"
    # The bucket's location must be the region's name: s3api refuses any other.
    swift_cluster.s3_client(region).create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region.region}
    )
    account = resolve_account("postgres")
    work = postgres_base_dir / "pgbackrest-swift"
    account.private_dir(work)
    config = work / "pgbackrest.conf"
    archive_command = f"pgbackrest --config={config} --stanza={STANZA} archive-push %p"
    source = postgres_factory("swift-source", extra={"archive_mode": "on", "archive_command": archive_command})
    account.write_file(config, pgbackrest_config(region, bucket, work, source.driver, source.username).encode())

    def pgbackrest(*args: str) -> str:
        return account.run(["pgbackrest", f"--config={config}", f"--stanza={STANZA}", *args], timeout=300).stdout

    pgbackrest("stanza-create")
    with psycopg.connect(source.dsn, autocommit=True) as connection:
        connection.execute("CREATE TABLE kept AS SELECT g AS id FROM generate_series(1, 1000) AS g")
    pgbackrest("check")  # switches WAL and waits until the segment is in Swift
    pgbackrest("backup", "--type=full")

    [stanza] = json.loads(pgbackrest("info", "--output=json"))
    assert stanza["status"]["message"] == "ok"
    [backup] = stanza["backup"]
    assert backup["type"] == "full"
    assert stanza["archive"][0]["max"] >= backup["archive"]["stop"]
    stored = swift_cluster.s3_client(region).list_objects_v2(Bucket=bucket, Prefix=f"pgbackrest/backup/{STANZA}/")
    assert any(item["Key"].endswith("/backup.manifest") for item in stored.get("Contents", []))
    # Committed after the backup: the restored server gets it from the WAL archive in Swift (archive-get).
    with psycopg.connect(source.dsn, autocommit=True) as connection:
        connection.execute("INSERT INTO kept SELECT g FROM generate_series(1001, 1500) AS g")
    pgbackrest("check")

    target = postgres_base_dir / "swift-restored"
    marks.mark(target)
    account.private_dir(target)
    port = free_loopback_port()
    # --archive-mode=off: the restored server must not archive into the source's stanza.
    pgbackrest("restore", f"--pg1-path={target}", "--archive-mode=off")
    restored = Postgres(target, port=port)
    try:
        restored.configure(plan=PLANS["hobbyist"], port=port)
        restored.start(timeout=120)
        restored.wait_until_promoted(user=source.username, timeout=120)
        dsn = f"postgresql://{source.username}:{source.password}@127.0.0.1:{port}/postgres"
        with psycopg.connect(dsn) as connection:
            assert connection.execute("SELECT count(*) FROM kept").fetchone() == (1500,)
    finally:
        restored.remove()


def test_regions_are_independent_stores(swift_regions: SwiftRegions) -> None:
    east = swift_cluster.s3_client(swift_regions["swift-east"])
    west = swift_cluster.s3_client(swift_regions["swift-west"])
    east.create_bucket(Bucket="only-in-east", CreateBucketConfiguration={"LocationConstraint": "swift-east"})
    east.put_object(Bucket="only-in-east", Key="hello", Body=b"east")

    assert "only-in-east" in {bucket["Name"] for bucket in east.list_buckets()["Buckets"]}
    assert "only-in-east" not in {bucket["Name"] for bucket in west.list_buckets()["Buckets"]}
    assert swift_regions["swift-east"].endpoint != swift_regions["swift-west"].endpoint
    assert swift_regions["swift-east"].ca_file.read_bytes() != swift_regions["swift-west"].ca_file.read_bytes()


def test_regions_toml_names_each_region_and_its_files(swift_regions: SwiftRegions) -> None:
    parsed = tomllib.loads(swift_regions.toml())
    assert [entry["name"] for entry in parsed["regions"]] == ["swift-east", "swift-west"]
    for entry in parsed["regions"]:
        region = swift_regions[entry["name"]]
        assert entry["s3"] == {
            "endpoint": region.endpoint,
            "region": entry["name"],
            "ca_file": str(region.ca_file),
            "credentials_file": str(region.credentials_file),
        }
        assert region.credentials_file.stat().st_mode & 0o777 == 0o600


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.swift_cluster", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


def _live_processes_mentioning(text: str) -> list[str]:
    """Command lines of the live (not zombie) processes whose command line contains `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if text in command_line and state != "Z":
            found.append(command_line)
    return found


def _live(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_up_is_idempotent_and_down_stops_everything() -> None:
    # Not pytest's tmp_path: its directories are root's 0700 ones, which the swift account cannot enter.
    base = Path(tempfile.mkdtemp(prefix="dbaas-swift-cli-"))
    try:
        first = _tool("up", "--dir", str(base))
        assert "swift-east started" in first.stdout and "swift-west started" in first.stdout
        toml = (base / "dbaas.toml").read_text()
        ports = {name: json.loads((base / name / "ports.json").read_text()) for name in swift_cluster.REGION_NAMES}
        pids = {str(path.relative_to(base)): int(path.read_text()) for path in base.glob("*/run/*.pid")}
        # Five processes per cluster, every one running as the swift account.
        assert len(pids) == 10
        swift_uid = pwd.getpwnam("swift").pw_uid
        assert all(Path(f"/proc/{pid}").stat().st_uid == swift_uid for pid in pids.values())

        again = _tool("up", "--dir", str(base))
        assert "swift-east already running" in again.stdout and "swift-west already running" in again.stdout
        assert (base / "dbaas.toml").read_text() == toml
        assert {str(path.relative_to(base)): int(path.read_text()) for path in base.glob("*/run/*.pid")} == pids

        _tool("down", "--dir", str(base))
        assert not _live_processes_mentioning(str(base))
        assert not [pid for pid in pids.values() if _live(pid)]
        assert all(_port_free(port) for cluster_ports in ports.values() for port in cluster_ports.values())
        assert not list(base.glob("*/run/*.pid"))
        _tool("down", "--dir", str(base))  # stopping what is stopped is fine

        # Started again, the clusters keep their ports: a control plane's configuration stays right.
        _tool("up", "--dir", str(base))
        assert (base / "dbaas.toml").read_text() == toml
    finally:
        _tool("down", "--dir", str(base))
        shutil.rmtree(base, ignore_errors=True)
