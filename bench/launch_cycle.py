"""Provider launch cycle: exec → handshake → GetProviderSchema → Shutdown → exit (target in docs/design.md: ≤ 150 ms).

Runs the installed `terraform-provider-dbaas` console script as Terraform does (magic cookie, mutual
TLS with a P-521 client certificate) and prints the median and spread of ≥15 cycles, and how long
the process takes to exit once Shutdown has been answered (target ≤ 50 ms).
Usage: python bench/launch_cycle.py [--runs N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from provider.pb import grpc_controller_pb2, tfplugin6_pb2
from tests.plugin_process import make_client_identity, start_plugin


def one_cycle(command: list[str], client: object) -> tuple[float, float, float]:
    started = time.perf_counter()
    plugin = start_plugin(client, command)  # type: ignore[arg-type]
    handshake_at = time.perf_counter()
    credentials = grpc.ssl_channel_credentials(
        root_certificates=plugin.server_cert_pem,
        private_key=client.key_pem,  # type: ignore[attr-defined]
        certificate_chain=client.cert_pem,
    )  # type: ignore[attr-defined]
    with grpc.secure_channel(
        f"unix:{plugin.socket_path}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    ) as channel:
        schema = channel.unary_unary(
            "/tfplugin6.Provider/GetProviderSchema",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=tfplugin6_pb2.GetProviderSchema.Response.FromString,
        )
        schema(tfplugin6_pb2.GetProviderSchema.Request(), timeout=10)
        shutdown = channel.unary_unary(
            "/plugin.GRPCController/Shutdown",
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=grpc_controller_pb2.Empty.FromString,
        )
        shutdown(grpc_controller_pb2.Empty(), timeout=10)
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
    client = make_client_identity("P-521")
    one_cycle([executable], client)  # warm the page cache and .pyc files
    cycles = [one_cycle([executable], client) for _ in range(max(args.runs, 15))]
    totals = sorted(c[0] * 1000 for c in cycles)
    handshakes = [c[1] * 1000 for c in cycles]
    exits = [c[2] * 1000 for c in cycles]
    print(
        f"launch cycle over {len(cycles)} runs: median {statistics.median(totals):.1f} ms "
        f"(min {totals[0]:.1f}, p90 {totals[int(len(totals) * 0.9) - 1]:.1f}, max {totals[-1]:.1f}); "
        "target <= 150 ms"
    )
    print(f"  exec -> handshake line: median {statistics.median(handshakes):.1f} ms")
    print(
        f"  Shutdown answered -> process exit: median {statistics.median(exits):.1f} ms, "
        f"max {max(exits):.1f} ms; target <= 50 ms"
    )


if __name__ == "__main__":
    main()
