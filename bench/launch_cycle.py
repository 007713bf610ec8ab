"""Provider launch cycle: exec → handshake → GetProviderSchema → Shutdown → exit (target in docs/design.md: ≤ 150 ms).

Runs the installed `terraform-provider-dbaas` console script as Terraform does (magic cookie, mutual
TLS with a P-521 client certificate) and, interleaved with it, the Go null provider's cycle (protocol 5,
the same go-plugin steps); prints the median and spread of ≥15 cycles of each, the ratio pair by pair,
and how long our process takes to exit once Shutdown has been answered (target ≤ 50 ms).
Usage: python bench/launch_cycle.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pairs import describe, describe_ratio, interleaved, pair_ratios
from bench.plan_unchanged import null_provider, run_from_byte_code
from tests.pb import grpc_controller_pb2
from tests.plugin_process import make_client_identity, start_plugin, tls_channel

SCHEMA_METHODS = {5: "/tfplugin5.Provider/GetSchema", 6: "/tfplugin6.Provider/GetProviderSchema"}


def one_cycle(command: list[str], client: object, protocol: int = 6) -> tuple[float, float, float]:
    """Seconds from exec to exit, from exec to the handshake line, and from Shutdown's answer to exit."""
    started = time.perf_counter()
    plugin = start_plugin(client, command)  # type: ignore[arg-type]
    handshake_at = time.perf_counter()
    with tls_channel(plugin, client) as channel:  # type: ignore[arg-type]
        # The same empty request in protocols 5 and 6 (where the method is GetSchema); the answer is taken as
        # bytes on both sides.
        schema = channel.unary_unary(SCHEMA_METHODS[protocol])
        if not schema(b"", timeout=10):
            raise SystemExit(f"{command[0]} answered GetProviderSchema with nothing")
        shutdown = channel.unary_unary(
            "/plugin.GRPCController/Shutdown",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=grpc_controller_pb2.Empty.FromString,
        )
        try:
            shutdown(grpc_controller_pb2.Empty(), timeout=10)
        except grpc.RpcError as err:
            # The null provider's go-plugin (2019) exits on Shutdown without answering: the socket closes.
            if protocol == 6 or err.code() != grpc.StatusCode.UNAVAILABLE:  # type: ignore[attr-defined]
                raise
        shutdown_answered = time.perf_counter()
    plugin.process.wait(timeout=10)
    ended = time.perf_counter()
    return ended - started, handshake_at - started, ended - shutdown_answered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    executable = shutil.which("terraform-provider-dbaas", path=str(Path(sys.executable).parent))
    if executable is None:
        sys.exit("terraform-provider-dbaas is not installed in this environment: run `make install`")
    run_from_byte_code()
    client = make_client_identity("P-521")
    with tempfile.TemporaryDirectory() as scratch:
        null_binary = str(null_provider(Path(scratch)) / "terraform-provider-null")
        one_cycle([executable], client)  # warm the page cache and .pyc files
        one_cycle([null_binary], client, protocol=5)
        ours_cycles: list[tuple[float, float, float]] = []

        def ours() -> float:
            ours_cycles.append(one_cycle([executable], client))
            return ours_cycles[-1][0]

        totals = interleaved(
            {"ours": ours, "null": lambda: one_cycle([null_binary], client, protocol=5)[0]}, max(args.runs, 15)
        )
    print(f"launch cycle, {len(totals['ours'])} interleaved pairs:")
    print(f"  Go null provider: {describe(totals['null'], 'ms', 1000)}")
    print(f"  dbaas provider:   {describe(totals['ours'], 'ms', 1000)}; target <= 150 ms")
    print(f"  ratio: {describe_ratio(pair_ratios(totals['ours'], totals['null']))}")
    print(f"  dbaas exec -> handshake line: {describe([c[1] for c in ours_cycles], 'ms', 1000)}")
    print(
        f"  dbaas Shutdown answered -> process exit: {describe([c[2] for c in ours_cycles], 'ms', 1000)}; "
        "target <= 50 ms"
    )


if __name__ == "__main__":
    main()
