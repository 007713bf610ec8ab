"""Forks at the latest transaction while pgbench writes (docs/design.md, Targets): committed transactions missing from
each fork (target 0) and its time from POST to first query beside pgBackRest restore + start by hand
(target ≤ 1.2x), in local-east (the primary store) and local-west (the copy there).

1. A pg service in local-east with `additional_backup_regions = ["local-west"]`, pgbench data at --scale,
   one full backup through the API, copied to local-west.
2. pgbench inserts one row per transaction into a table with a bigserial id (--rate per second, two
   clients). Right before each fork POST (no `backup`, no `recovery_target_time`) a separate connection
   reads the committed ids: the highest, and those below it still in flight (another client's, not yet
   committed). Nothing switches WAL here: making the last commits reach the archive and the copy is the
   product's job.
3. Once the fork answers a query: the committed ids missing from it, its time from POST to first
   query and `restored_from` as reported. Beside each fork, pgBackRest restore (latest: all archived
   WAL) of the same repository + pg_ctl start by hand, to the first query of the promoted server; pairs
   interleaved (the order alternates, the machine's speed drifts), the ratio pair by pair and the median.
Runs in about a minute at the defaults, so it is part of `make bench`.
Usage: python bench/fork_latest.py [--scale N] [--pairs N] [--rate TPS]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.by_hand import BIN, restore_to_first_query
from bench.harness import (
    SERVICES,
    Bench,
    create_service,
    full_backup,
    pgbench_init,
    running_control_plane,
    wait_for_copy,
)
from controlplane.domain.handles import parse_handle
from controlplane.settings import load_settings
from tests.controlplane.cp_process import wait_for_gone

SOURCE = "source"
REGIONS = ("local-east", "local-west")
# One snapshot: the highest committed id and the ids below it that are not committed (yet).
COMMITTED = """
SELECT top, ARRAY(SELECT g FROM generate_series(1, top) AS g
                  WHERE NOT EXISTS (SELECT 1 FROM bench_tx WHERE id = g))
FROM (SELECT coalesce(max(id), 0) AS top FROM bench_tx) AS t
"""
MISSING = """
SELECT count(*) FROM generate_series(1, %(top)s::bigint) AS g
WHERE NOT EXISTS (SELECT 1 FROM bench_tx WHERE id = g) AND g <> ALL(%(in_flight)s::bigint[])
"""


@dataclass(frozen=True)
class Fork:
    seconds: float  # POST to first query
    committed: int  # transactions committed before the POST
    missing: int  # of those, the ones the fork lacks
    restored_from: dict[str, Any]  # as the API reports it


@dataclass(frozen=True)
class Pair:
    region: str
    fork: Fork
    hand_seconds: float  # pgbackrest restore + pg_ctl start to first query

    @property
    def ratio(self) -> float:
        return self.fork.seconds / self.hand_seconds


def committed(uri: str) -> tuple[int, list[int]]:
    """The highest id committed on the source, and the ids below it not committed when it was read."""
    with psycopg.connect(uri, autocommit=True) as connection:
        row = connection.execute(COMMITTED).fetchone()
    assert row is not None
    return int(row[0]), [int(i) for i in row[1]]


def fork_at_latest(bench: Bench, source_uri: str, name: str, cloud: str) -> Fork:
    """Fork the source at its latest transaction into `cloud`, check it, and delete it."""
    top, in_flight = committed(source_uri)
    started = time.perf_counter()
    fork = create_service(bench.client, name, cloud=cloud, timeout=600, fork_from={"service": SOURCE})
    with psycopg.connect(fork["uri"], autocommit=True) as connection:
        connection.execute("SELECT 1")
        seconds = time.perf_counter() - started
        row = connection.execute(MISSING, {"top": top, "in_flight": in_flight}).fetchone()
    assert row is not None
    bench.client.delete(f"{SERVICES}/{name}").raise_for_status()
    wait_for_gone(bench.client, f"{SERVICES}/{name}")
    return Fork(seconds, top - len(in_flight), int(row[0]), fork["restored_from"])


def one_pair(bench: Bench, source: dict[str, Any], repository: Path, stanza: str, region: str, index: int) -> Pair:
    """The API fork and the restore by hand from the same repository; which goes first alternates."""

    def by_hand() -> float:
        config_path = bench.plane.data_dir / "pgbackrest" / stanza
        target = bench.scratch / f"by-hand-{region}-{index}"
        return restore_to_first_query(config_path, stanza, repository, target, source["username"])

    def api() -> Fork:
        return fork_at_latest(bench, source["uri"], f"fork-{region}-{index}", region)

    if index % 2:
        hand = by_hand()
        return Pair(region, api(), hand)
    fork = api()
    return Pair(region, fork, by_hand())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale of the source (about 15 MB each)")
    parser.add_argument("--pairs", type=int, default=3, help="forks (and restores by hand) per region")
    parser.add_argument("--rate", type=int, default=200, help="transactions per second pgbench aims at")
    args = parser.parse_args()
    started = time.perf_counter()
    with running_control_plane("dbaas-bench-fork-latest-") as bench:
        client = bench.client
        source = create_service(client, SOURCE, user_config={"additional_backup_regions": ["local-west"]})
        pgbench_init(source["uri"], args.scale)
        with psycopg.connect(source["uri"], autocommit=True) as connection:
            connection.execute("CREATE TABLE bench_tx (id bigserial PRIMARY KEY)")
        taken = full_backup(client, SOURCE, "base")
        wait_for_copy(client, SOURCE, "base", "local-west")
        primary, stanza, _ = parse_handle(taken["backup_handle"])
        west = load_settings(bench.plane.data_dir).region("local-west")
        assert west is not None
        repositories = {"local-east": primary, "local-west": west.object_store / taken["container"]}
        print(f"source: pgbench scale {args.scale}, full backup {taken['name']} copied to local-west")

        script = bench.scratch / "insert.sql"
        script.write_text("INSERT INTO bench_tx DEFAULT VALUES;\n")
        load_log = bench.scratch / "pgbench.log"
        clients = ["-c", "2", "-j", "2", "-R", str(args.rate)]
        with load_log.open("w") as log:
            load = subprocess.Popen(
                [BIN / "pgbench", "-n", *clients, "-T", "86400", "-f", script, source["uri"]],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        load_started = time.perf_counter()
        pairs: list[Pair] = []
        try:
            while committed(source["uri"])[0] < args.rate:  # about a second of load before the first fork
                if load.poll() is not None:
                    raise SystemExit(f"pgbench stopped:\n{load_log.read_text()[-2000:]}")
                time.sleep(0.1)
            for index in range(args.pairs):
                for region in REGIONS:
                    pair = one_pair(bench, source, repositories[region], stanza, region, index)
                    pairs.append(pair)
                    print(
                        f"{region} pair {index + 1}: fork {pair.fork.seconds:.2f} s, by hand {pair.hand_seconds:.2f} s"
                        f" -> {pair.ratio:.2f}x; missing {pair.fork.missing} of {pair.fork.committed} committed;"
                        f" restored_from {pair.fork.restored_from}"
                    )
        finally:
            load.terminate()
            load.wait()
        total = committed(source["uri"])[0]
        print(f"load: {total} transactions in {time.perf_counter() - load_started:.0f} s (pgbench -R {args.rate})")

    print("latest-transaction forks while pgbench writes:")
    for region in REGIONS:
        mine = [p for p in pairs if p.region == region]
        print(
            f"  {region}: missing committed transactions per fork: {', '.join(str(p.fork.missing) for p in mine)}"
            " (target 0); fork POST -> first query: "
            + ", ".join(f"{p.fork.seconds:.2f}" for p in mine)
            + " s; ratio to restore + start by hand: "
            + ", ".join(f"{p.ratio:.2f}x" for p in mine)
            + f", median {statistics.median(p.ratio for p in mine):.2f}x"
        )
    print(
        f"  all pairs: median ratio {statistics.median(p.ratio for p in pairs):.2f}x (target <= 1.2x); "
        f"missing in total {sum(p.fork.missing for p in pairs)} (target 0); benchmark took "
        f"{time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
