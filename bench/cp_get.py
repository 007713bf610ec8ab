"""The control plane's CPU per GET: what a `terraform plan` refresh costs it, read by request kind.

docs/design.md, Targets: ≤ 1 ms of control-plane CPU per GET. The control plane runs as `dbaas-cp serve` (the
embedded SQLite default) with one service and one full backup; a keep-alive client sends GETs of the service,
of the backup and of the service's backup list, the kinds interleaved round after round. The CPU is the
process's own (user + system, from /proc), so the client's work is not counted. Prints each round's figures
and the medians.
Usage: python bench/cp_get.py [--requests N] [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import SERVICES, create_service, full_backup, running_control_plane

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (fields 14 and 15 of stat(5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500, help="GETs of each kind per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with running_control_plane("dbaas-bench-cp-get-") as bench:
        create_service(bench.client, "reads")
        full_backup(bench.client, "reads", "b1")
        assert bench.plane.process is not None
        pid = bench.plane.process.pid
        kinds = {
            "service": f"{SERVICES}/reads",
            "backup": f"{SERVICES}/reads/backups/b1",
            "backup list": f"{SERVICES}/reads/backups",
        }
        for path in kinds.values():  # warm: imports, caches, connections
            for _ in range(50):
                bench.client.get(path).raise_for_status()
        figures: dict[str, list[float]] = {kind: [] for kind in kinds}
        for round_number in range(1, args.rounds + 1):
            line = []
            for kind, path in kinds.items():
                before = process_cpu_seconds(pid)
                for _ in range(args.requests):
                    bench.client.get(path).raise_for_status()
                per_request_ms = (process_cpu_seconds(pid) - before) * 1000 / args.requests
                figures[kind].append(per_request_ms)
                line.append(f"{kind} {per_request_ms:.2f} ms")
            print(f"round {round_number}: " + ", ".join(line), flush=True)
        medians = ", ".join(f"{kind} {statistics.median(values):.2f} ms" for kind, values in figures.items())
        print(f"median control-plane CPU per GET: {medians}")


if __name__ == "__main__":
    main()
