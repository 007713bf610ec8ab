"""Service create → RUNNING through the API, and GET latency under 20 concurrent clients (docs/design.md, Targets).

Beside it, the same work by hand: initdb + pg_ctl start as the database user (the 1.1 s anchor).
Prints medians; target: create → RUNNING ≤ 2 s.
Usage: python bench/service_create.py [--services N] [--requests N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.by_hand import BIN, as_db_user, db_user_dir
from bench.harness import SERVICES, create_service, running_control_plane
from controlplane.engine.ports import free_loopback_port
from tests.controlplane.cp_process import ControlPlane


def by_hand(scratch: Path) -> float:
    """initdb + pg_ctl start -w, as the unprivileged user, the way an operator would."""
    data = db_user_dir(scratch / f"hand-{time.monotonic_ns()}")
    started = time.perf_counter()
    as_db_user(BIN / "initdb", "-D", data, "--data-checksums", "-U", "admin", "-A", "trust")
    as_db_user(
        BIN / "pg_ctl",
        "-D",
        data,
        "-w",
        "-l",
        data / "log",
        "-o",
        f"-p {free_loopback_port()} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
        "start",
    )
    elapsed = time.perf_counter() - started
    as_db_user(BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="GETs per client")
    args = parser.parse_args()
    with running_control_plane("dbaas-bench-create-") as bench:
        hand = [by_hand(bench.scratch) for _ in range(args.services)]
        api: list[float] = []
        for index in range(args.services):
            started = time.perf_counter()
            create_service(bench.client, f"s{index}", plan="hobbyist")
            api.append(time.perf_counter() - started)
        latencies = concurrent_gets(bench.plane, bench.token, 20, args.requests)
        print(
            f"service create -> RUNNING, median of {args.services}: API {statistics.median(api):.2f} s "
            f"(min {min(api):.2f}); initdb+start by hand {statistics.median(hand):.2f} s; target <= 2 s"
        )
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
        print(
            f"GET service, 20 concurrent clients x {args.requests}: p50 {p50 * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms, {len(latencies) / sum(latencies) * 20:.0f} req/s"
        )


def concurrent_gets(plane: ControlPlane, token: str, clients: int, requests: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with plane.client(token) as client:
            mine = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get(f"{SERVICES}/s0").raise_for_status()
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


if __name__ == "__main__":
    main()
