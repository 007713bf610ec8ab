"""Swift regions: the copy between two Swift clusters beside rclone copying the same objects (target ≥ 0.8x),
a full backup into Swift through the API beside pgBackRest by hand to the same Swift (target ≥ 0.9x), and the
replication lag from swift-east to swift-west while pgbench writes (target ≤ 15 s).

Two Swift all-in-one clusters (tools/swift_cluster.py, s3api + TLS on loopback) are the stores of regions
swift-east and swift-west of a control plane. A service in swift-east gets pgbench data (--scale) and a full
backup; then, --runs times, interleaved:

1. the replicator's copy (controlplane/storage/repository_copy.py, `replication_workers` objects at once) of
   the service's stanza from its bucket in swift-east into an empty bucket in swift-west, beside
   `rclone copy` of the same objects into another empty bucket there (`--transfers` the same);
2. a full backup through the API beside `pgbackrest backup --type=full` by hand with the control plane's own
   configuration of the stanza (the same repository, the same options).

Then copying to swift-west is turned on and, once the first copy is done, pgbench writes for --seconds while
the report's lag is read every second. Usage: python bench/swift_regions.py [--scale N] [--runs N] [--seconds N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.by_hand import as_db_user
from bench.harness import SERVICES, create_service, full_backup, pgbench_init, running_control_plane, wait_for_copy
from bench.pairs import describe, describe_ratio, interleaved, pair_ratios
from bench.replication import describe_lag, steady_lag
from controlplane.domain.handles import parse_handle
from controlplane.engine.os_user import resolve_account
from controlplane.settings import load_settings
from controlplane.storage.repository_copy import plan_copy, run_copy
from controlplane.storage.stores import Repository, location_of, open_repository
from tools import swift_cluster

WORKERS = 4
_RCLONE_REMOTE = """[{name}]
type = s3
provider = Other
access_key_id = {key}
secret_access_key = {secret}
endpoint = {endpoint}
region = {region}
force_path_style = true
"""


def rclone_config(regions: swift_cluster.SwiftRegions, path: Path) -> Path:
    """An rclone configuration with one remote per cluster, named like its region."""
    text = ""
    for region in regions.regions:
        key, secret = swift_cluster.read_credentials(region.credentials_file)
        text += _RCLONE_REMOTE.format(
            name=region.name, key=key, secret=secret, endpoint=region.endpoint, region=region.region
        )
    path.write_text(text)
    path.chmod(0o600)
    return path


def stanza_bytes(repository: Repository, stanza: str) -> int:
    return sum(item.size for kind in ("archive", "backup") for item in repository.list(f"{kind}/{stanza}/"))


def emptied(repository: Repository) -> Repository:
    """The repository, created if need be and with nothing in it."""
    repository.create()
    repository.remove("")
    return repository


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dbaas-bench-swift-"))
    base.chmod(0o711)
    regions = swift_cluster.up(base)
    try:
        config = f"lag_sample_seconds = 1\nreplication_workers = {WORKERS}\n{regions.toml()}"
        with running_control_plane("dbaas-bench-swift-", config) as bench:
            settings = load_settings(bench.plane.data_dir, None, bench.plane.config)
            account = resolve_account(settings.os_user)
            client = bench.client
            service = create_service(client, "big", cloud="swift-east")
            pgbench_init(service["uri"], args.scale)
            taken = full_backup(client, "big", "base")
            location, stanza, _ = parse_handle(taken["backup_handle"])
            source = open_repository(settings, location, account)
            size = stanza_bytes(source, stanza)
            print(f"stanza in swift-east: {size / 1e6:.0f} MB in {len(source.list(''))} objects (scale {args.scale})")

            west = settings.region("swift-west")
            assert west is not None
            ours_target = open_repository(settings, location_of(west, "bench", "copy-ours"), account)
            rclone_target = open_repository(settings, location_of(west, "bench", "copy-rclone"), account)
            config_file = rclone_config(regions, bench.scratch / "rclone.conf")
            source_bucket = location.rsplit("/", 1)[1]
            rclone_bucket = rclone_target.location.rsplit("/", 1)[1]

            def ours() -> float:
                target = emptied(ours_target)
                started = time.perf_counter()
                run_copy(plan_copy(source, target, stanza), source, target, stanza, workers=WORKERS)
                return time.perf_counter() - started

            # rclone 1.60's S3 backend cannot take --ca-cert (LoadCustomCABundleError): Go's SSL_CERT_FILE instead,
            # both clusters' certificates in one bundle.
            ca_bundle = bench.scratch / "swift-cas.pem"
            ca_bundle.write_text("".join(region.ca_file.read_text() for region in regions.regions))

            # An AWS_CA_BUNDLE in the environment makes rclone's SDK fail the same way: left out.
            rclone_env = {key: value for key, value in os.environ.items() if key != "AWS_CA_BUNDLE"}
            rclone_env["SSL_CERT_FILE"] = str(ca_bundle)

            def rclone() -> float:
                emptied(rclone_target)
                started = time.perf_counter()
                for kind in ("archive", "backup"):
                    copied = subprocess.run(
                        ["rclone", "--config", str(config_file), "--transfers", str(WORKERS),
                         "copy", f"swift-east:{source_bucket}/{kind}/{stanza}",
                         f"swift-west:{rclone_bucket}/{kind}/{stanza}"],
                        capture_output=True, text=True, env=rclone_env,
                    )  # fmt: skip
                    if copied.returncode != 0:
                        raise SystemExit(f"rclone failed: {copied.stderr}")
                return time.perf_counter() - started

            copies = interleaved({"ours": ours, "rclone": rclone}, args.runs)
            print(f"copy swift-east -> swift-west, ours ({WORKERS} at once): {describe(copies['ours'], 's')}")
            print(f"rclone copy (--transfers {WORKERS}): {describe(copies['rclone'], 's')}")
            print(
                "throughput ratio ours/rclone, pair by pair: "
                + describe_ratio(pair_ratios(copies["rclone"], copies["ours"]), at_least=0.8)
            )

            config_path = bench.plane.data_dir / "pgbackrest" / stanza
            backups = iter(range(args.runs))

            def api_backup() -> float:
                started = time.perf_counter()
                full_backup(client, "big", f"api-{next(backups)}")
                return time.perf_counter() - started

            def by_hand() -> float:
                started = time.perf_counter()
                as_db_user("pgbackrest", f"--config-path={config_path}", f"--stanza={stanza}", "--repo=1",
                           "--type=full", "backup")  # fmt: skip
                return time.perf_counter() - started

            fulls = interleaved({"api": api_backup, "by hand": by_hand}, args.runs)
            print(f"full backup into swift-east through the API: {describe(fulls['api'], 's')}")
            print(f"pgbackrest backup --type=full by hand: {describe(fulls['by hand'], 's')}")
            print(
                "throughput ratio API/by hand, pair by pair: "
                + describe_ratio(pair_ratios(fulls["by hand"], fulls["api"]), at_least=0.9)
            )

            client.patch(
                f"{SERVICES}/big", json={"user_config": {"additional_backup_regions": ["swift-west"]}}
            ).raise_for_status()
            started = time.perf_counter()
            wait_for_copy(client, "big", "base", "swift-west", timeout=1800)  # the steady state starts after it
            print(f"first copy of the service to swift-west through the API: {time.perf_counter() - started:.1f} s")
            lags = steady_lag(client, service["uri"], args.seconds)
            print(f"replication lag swift-east -> swift-west while pgbench writes: {describe_lag(lags)}")
    finally:
        swift_cluster.down(base)


if __name__ == "__main__":
    main()
