"""Full backup of ≥1 GB through the API vs the same pgBackRest command by hand (target ≥ 0.9x the
throughput), and fork to first query vs pgBackRest restore + start by hand (target ≤ 1.2x).

Defaults chosen here: zst level 1 with process-max 2 (lz4 is about as fast; both near 0.7x raw
pg_basebackup on this machine, see the backups issue). Usage: python bench/backup_restore.py [--scale N]
(pgbench scale 70 ≈ 1.05 GB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controlplane.engine.ports import free_loopback_port
from tests.controlplane.cp_process import (
    ControlPlane,
    remove_tree,
    stop_leftover_servers,
    unprivileged_reachable_dir,
    wait_for_state,
)
from tests.controlplane.test_backups import wait_for_backup

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "postgres" if os.geteuid() == 0 else None


def as_db_user(*argv: str | Path) -> None:
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, user=USER, cwd="/")
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{result.stdout}{result.stderr}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=70)
    args = parser.parse_args()
    scratch = unprivileged_reachable_dir("dbaas-bench-backup-")
    plane = ControlPlane(scratch / "cp")
    (scratch / "cp").mkdir()
    try:
        plane.start()
        client = plane.client(plane.create_token("bench"))
        client.post(
            "/v1/projects/bench/services",
            json={"name": "big", "service_type": "pg", "cloud": "local-east", "plan": "startup-4"},
        ).raise_for_status()
        service = wait_for_state(client, "/v1/projects/bench/services/big", {"RUNNING"})
        subprocess.run(
            [BIN / "pgbench", "-i", "-q", "-s", str(args.scale), service["uri"]], check=True, capture_output=True
        )
        with psycopg.connect(service["uri"]) as connection:
            size = connection.execute("SELECT pg_database_size('postgres')").fetchone()[0]  # type: ignore[index]
        print(f"database size: {size / 1e9:.2f} GB (pgbench scale {args.scale})")

        started = time.perf_counter()
        client.put("/v1/projects/bench/services/big/backups/api-full", json={}).raise_for_status()
        taken = wait_for_backup(client, "/v1/projects/bench/services/big/backups/api-full", timeout=3600)
        api_seconds = time.perf_counter() - started
        stanza, label = taken["backup_handle"].split("#", 1)[1].split("/")
        config_path = plane.data_dir / "pgbackrest" / stanza
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
        client.post(
            "/v1/projects/bench/services",
            json={
                "name": "fork",
                "service_type": "pg",
                "cloud": "local-east",
                "plan": "startup-4",
                "fork_from": {"service": "big", "backup": "api-full"},
            },
        ).raise_for_status()
        fork = wait_for_state(client, "/v1/projects/bench/services/fork", {"RUNNING"}, timeout=3600)
        with psycopg.connect(fork["uri"]) as connection:
            connection.execute("SELECT count(*) FROM pgbench_branches").fetchone()
        api_fork = time.perf_counter() - started

        target = scratch / "by-hand"
        target.mkdir()
        shutil.chown(target, USER) if USER else None
        target.chmod(0o700)
        port = free_loopback_port()
        started = time.perf_counter()
        as_db_user(
            "pgbackrest",
            f"--config-path={config_path}",
            f"--stanza={stanza}",
            "--repo=1",
            f"--set={label}",
            f"--pg1-path={target}",
            "--archive-mode=off",
            "--type=immediate",
            "--target-action=promote",
            "restore",
        )
        as_db_user(
            BIN / "pg_ctl",
            "-D",
            target,
            "-w",
            "-l",
            target / "by-hand.log",
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={target}",
            "start",
        )
        deadline = time.monotonic() + 600
        while True:
            result = subprocess.run(
                [
                    "psql",
                    "-h",
                    str(target),
                    "-p",
                    str(port),
                    "-U",
                    service["username"],
                    "-d",
                    "postgres",
                    "-Atc",
                    "SELECT pg_is_in_recovery()",
                ],
                capture_output=True,
                text=True,
                user=USER,
                cwd="/",
            )
            if result.stdout.strip() == "f" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        hand_fork = time.perf_counter() - started
        as_db_user(BIN / "pg_ctl", "-D", target, "-m", "immediate", "stop")
        print(
            f"fork to first query: API {api_fork:.1f} s, restore + start by hand {hand_fork:.1f} s: "
            f"{api_fork / hand_fork:.2f}x (target <= 1.2x)"
        )
    finally:
        plane.stop()
        stop_leftover_servers(plane.data_dir)
        remove_tree(scratch)


if __name__ == "__main__":
    main()
