"""Backup to another region: copy bandwidth against a raw `cp` of the same files (target ≥ 0.8x), and the
steady-state replication lag while pgbench writes to the service (target ≤ 15 s).

1. A service with pgbench data (scale --scale) takes a full backup with copying off; then copying to
   local-west is enabled through the API and the time until the copy is Succeeded is measured, beside
   `cp -r` of the same stanza directories into an empty directory followed by `sync` (our copy flushes
   every file, so the raw copy is flushed too; the figure without `sync` is printed as well).
2. pgbench writes for --seconds; every second the report's current lag is read. Prints median, p95 and
   the largest lag, and the samples the report keeps.
Usage: python bench/replication.py [--scale N] [--seconds N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.by_hand import BIN
from bench.harness import (
    SERVICES,
    create_service,
    full_backup,
    pgbench_init,
    running_control_plane,
    wait_for_copy,
)
from controlplane.domain.handles import parse_handle
from tests.controlplane.cp_process import remove_tree

SERVICE = f"{SERVICES}/big"


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink())


def raw_copy_seconds(repository: Path, stanza: str, scratch: Path, *, flush: bool) -> float:
    target = scratch / f"raw-{'sync' if flush else 'nosync'}"
    remove_tree(target)
    target.mkdir()
    subprocess.run(["sync"], check=True)
    started = time.perf_counter()
    for kind in ("archive", "backup"):
        (target / kind).mkdir()
        subprocess.run(["cp", "-r", str(repository / kind / stanza), str(target / kind)], check=True)
    if flush:
        subprocess.run(["sync"], check=True)
    seconds = time.perf_counter() - started
    remove_tree(target)
    return seconds


def copied_seconds(client: Any, name: str) -> float:
    started = time.perf_counter()
    client.patch(SERVICE, json={"user_config": {"additional_backup_regions": ["local-west"]}}).raise_for_status()
    wait_for_copy(client, "big", name, "local-west")
    return time.perf_counter() - started


def steady_lag(client: Any, uri: str, seconds: int) -> list[float]:
    writer = subprocess.Popen(
        [BIN / "pgbench", "-n", "-c", "2", "-j", "2", "-T", str(seconds), uri],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lags = []
    while writer.poll() is None:
        report = client.post(f"{SERVICE}/backup_to_another_region/report", json={"period": "hour"}).json()
        lags.append(float(report["regions"][0]["lag_seconds"]))
        time.sleep(1)
    output = writer.communicate()[0]
    tps = next((line for line in output.splitlines() if line.startswith("tps")), "tps: ?")
    print(f"pgbench for {seconds} s: {tps.strip()}")
    return lags


def describe_lag(lags: list[float]) -> str:
    """The lags read, as median, p95 and max against the target."""
    ordered = sorted(lags)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{len(lags)} reads, median {statistics.median(lags):.1f} s, p95 {p95:.1f} s, max {max(lags):.1f} s "
        "(target <= 15 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=70)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with running_control_plane("dbaas-bench-replication-", "lag_sample_seconds = 1\n") as bench:
        client, scratch = bench.client, bench.scratch
        service = create_service(client, "big")
        pgbench_init(service["uri"], args.scale)
        taken = full_backup(client, "big", "base")
        location, stanza, _ = parse_handle(taken["backup_handle"])
        repository = Path(location)  # a directory region
        size = sum(tree_bytes(repository / kind / stanza) for kind in ("archive", "backup"))
        raw_sync = raw_copy_seconds(repository, stanza, scratch, flush=True)
        raw = raw_copy_seconds(repository, stanza, scratch, flush=False)
        ours = copied_seconds(client, "base")
        print(f"repository of the service: {size / 1e6:.0f} MB (database: pgbench scale {args.scale})")
        print(f"copy to local-west through the control plane: {ours:.2f} s ({size / ours / 1e6:.0f} MB/s)")
        print(
            f"cp -r + sync: {raw_sync:.2f} s ({size / raw_sync / 1e6:.0f} MB/s) -> ratio "
            f"{raw_sync / ours:.2f}x (target >= 0.8x)"
        )
        print(f"cp -r without sync: {raw:.2f} s ({size / raw / 1e6:.0f} MB/s) -> ratio {raw / ours:.2f}x")

        lags = steady_lag(client, service["uri"], args.seconds)
        print(f"replication lag while pgbench writes: {describe_lag(lags)}")
        report = client.post(f"{SERVICE}/backup_to_another_region/report", json={"period": "hour"}).json()
        samples = report["regions"][0]["samples"]
        print(
            f"report: status {report['regions'][0]['status']}, {len(samples)} one-minute buckets, largest "
            f"{max((s['lag_seconds'] for s in samples), default=0):.1f} s"
        )


if __name__ == "__main__":
    main()
