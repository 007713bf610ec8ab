"""Full backup of ≥1 GB through the API vs the same pgBackRest command by hand (target ≥ 0.9x the
throughput), and fork to first query vs pgBackRest restore + start by hand (target ≤ 1.2x).

Defaults chosen here: zst level 1 with process-max 2 (lz4 is about as fast; both near 0.7x raw
pg_basebackup on this machine, see the backups issue). Usage: python bench/backup_restore.py [--scale N]
(pgbench scale 70 ≈ 1.05 GB).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.by_hand import as_db_user, restore_to_first_query
from bench.harness import create_service, full_backup, pgbench_init, running_control_plane
from controlplane.domain.handles import parse_handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=70)
    args = parser.parse_args()
    with running_control_plane("dbaas-bench-backup-") as bench:
        client = bench.client
        service = create_service(client, "big")
        pgbench_init(service["uri"], args.scale)
        with psycopg.connect(service["uri"]) as connection:
            size = connection.execute("SELECT pg_database_size('postgres')").fetchone()[0]  # type: ignore[index]
        print(f"database size: {size / 1e9:.2f} GB (pgbench scale {args.scale})")

        started = time.perf_counter()
        taken = full_backup(client, "big", "api-full")
        api_seconds = time.perf_counter() - started
        location, stanza, label = parse_handle(taken["backup_handle"])
        repository = Path(location)  # a directory region
        config_path = bench.plane.data_dir / "pgbackrest" / stanza
        started = time.perf_counter()
        as_db_user(
            "pgbackrest", f"--config-path={config_path}", f"--stanza={stanza}", "--repo=1", "--type=full", "backup"
        )
        hand_seconds = time.perf_counter() - started
        print(
            f"full backup: API {api_seconds:.1f} s ({size / api_seconds / 1e6:.0f} MB/s), by hand "
            f"{hand_seconds:.1f} s ({size / hand_seconds / 1e6:.0f} MB/s): throughput ratio "
            f"{hand_seconds / api_seconds:.2f}x (target >= 0.9x)"
        )

        started = time.perf_counter()
        fork = create_service(client, "fork", timeout=3600, fork_from={"service": "big", "backup": "api-full"})
        with psycopg.connect(fork["uri"]) as connection:
            connection.execute("SELECT count(*) FROM pgbench_branches").fetchone()
        api_fork = time.perf_counter() - started

        hand_fork = restore_to_first_query(
            config_path,
            stanza,
            repository,
            bench.scratch / "by-hand",
            service["username"],
            f"--set={label}",
            "--type=immediate",
            "--target-action=promote",
        )
        print(
            f"fork to first query: API {api_fork:.1f} s, restore + start by hand {hand_fork:.1f} s: "
            f"{api_fork / hand_fork:.2f}x (target <= 1.2x)"
        )


if __name__ == "__main__":
    main()
