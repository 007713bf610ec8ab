"""Service create → RUNNING through the API, and GET latency under 20 concurrent clients (DESIGN §7).

Beside it, the same work by hand: initdb + pg_ctl start as the database user (the 1.1 s anchor).
Prints medians; target: create → RUNNING ≤ 2 s.
Usage: python bench/service_create.py [--services N] [--requests N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from controlplane.engine.ports import free_loopback_port
from tests.controlplane.cp_process import (
    ControlPlane,
    remove_tree,
    stop_leftover_servers,
    unprivileged_reachable_dir,
    wait_for_state,
)

BIN = Path("/usr/lib/postgresql/15/bin")


def by_hand(scratch: Path) -> float:
    """initdb + pg_ctl start -w, as the unprivileged user, the way an operator would."""
    data = scratch / f"hand-{time.monotonic_ns()}"
    data.mkdir()
    user = "postgres" if os.geteuid() == 0 else None
    if user:
        subprocess.run(["chown", user, str(data)], check=True)
    started = time.perf_counter()
    subprocess.run(
        [BIN / "initdb", "-D", data, "--data-checksums", "-U", "admin", "-A", "trust"],
        check=True,
        capture_output=True,
        user=user,
    )
    subprocess.run(
        [
            BIN / "pg_ctl",
            "-D",
            data,
            "-w",
            "-l",
            data / "log",
            "-o",
            f"-p {free_loopback_port()} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            "start",
        ],
        check=True,
        capture_output=True,
        user=user,
    )
    elapsed = time.perf_counter() - started
    subprocess.run([BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop"], check=True, capture_output=True, user=user)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100, help="GETs per client")
    args = parser.parse_args()
    scratch = unprivileged_reachable_dir("dbaas-bench-create-")
    plane = ControlPlane(scratch / "cp")
    (scratch / "cp").mkdir()
    try:
        plane.start()
        hand = [by_hand(scratch) for _ in range(args.services)]
        api: list[float] = []
        with plane.client(plane.create_token("bench")) as client:
            for index in range(args.services):
                started = time.perf_counter()
                response = client.post(
                    "/v1/projects/bench/services",
                    json={"name": f"s{index}", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"},
                )
                response.raise_for_status()
                wait_for_state(client, f"/v1/projects/bench/services/s{index}", {"RUNNING"})
                api.append(time.perf_counter() - started)
            latencies = concurrent_gets(plane, client.headers["Authorization"], 20, args.requests)
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
    finally:
        plane.stop()
        stop_leftover_servers(plane.data_dir)
        remove_tree(scratch)


def concurrent_gets(plane: ControlPlane, authorization: str, clients: int, requests: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def client_loop() -> None:
        with plane.client(authorization.split(" ", 1)[1]) as client:
            mine = []
            for _ in range(requests):
                started = time.perf_counter()
                client.get("/v1/projects/bench/services/s0").raise_for_status()
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
