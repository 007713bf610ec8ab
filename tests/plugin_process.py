"""Start a provider plugin process the way Terraform does, for tests and benchmarks."""

from __future__ import annotations

import base64
import os
import ssl
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from provider.plugin.handshake import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE

TYPE_CHECKING = False
if TYPE_CHECKING:
    import grpc

REPO = Path(__file__).resolve().parent.parent


@dataclass
class ClientIdentity:
    cert_pem: bytes
    key_pem: bytes


@dataclass
class RunningPlugin:
    process: subprocess.Popen[bytes]
    handshake: list[str]

    @property
    def socket_path(self) -> str:
        return self.handshake[3]

    @property
    def server_cert_pem(self) -> bytes:
        der = base64.b64decode(self.handshake[5] + "=" * (-len(self.handshake[5]) % 4))
        return ssl.DER_cert_to_PEM_cert(der).encode()


def make_client_identity(curve: str = "P-521") -> ClientIdentity:
    """A self-signed client certificate like Terraform's (ECDSA P-521 by default)."""
    with tempfile.TemporaryDirectory() as scratch:
        key, cert = os.path.join(scratch, "key.pem"), os.path.join(scratch, "cert.pem")
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                f"ec_paramgen_curve:{curve}",
                "-nodes",
                "-keyout",
                key,
                "-out",
                cert,
                "-days",
                "1",
                "-subj",
                "/O=HashiCorp/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "extendedKeyUsage=clientAuth,serverAuth",
            ],
            check=True,
            capture_output=True,
        )
        return ClientIdentity(Path(cert).read_bytes(), Path(key).read_bytes())


def plugin_command(module: str = "provider.main") -> list[str]:
    return [sys.executable, "-m", module]


def start_plugin(
    client: ClientIdentity | None, command: list[str] | None = None, extra_env: dict[str, str] | None = None
) -> RunningPlugin:
    env = dict(os.environ, **{MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE, "PLUGIN_PROTOCOL_VERSIONS": "5,6"})
    env["PYTHONPATH"] = str(REPO)
    if client is not None:
        env["PLUGIN_CLIENT_CERT"] = client.cert_pem.decode()
    env.update(extra_env or {})
    process = subprocess.Popen(
        command or plugin_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO
    )
    assert process.stdout is not None
    line = process.stdout.readline().decode().strip()
    if not line:
        process.kill()
        raise RuntimeError(f"plugin printed no handshake: {process.stderr.read().decode() if process.stderr else ''}")
    return RunningPlugin(process, line.split("|"))


def schema_and_imports(
    client: ClientIdentity, command: list[str], extra_env: dict[str, str] | None = None
) -> tuple[bytes, str]:
    """One launch of a plugin run by `command` with `-X importtime`: its GetProviderSchema answer (bytes) and its
    standard error, where the import log is, once it has exited after Shutdown."""
    # Imported here: bench/provider_cpu.py's launcher wraps every provider start and imports this module.
    import threading

    from tests.pb import grpc_controller_pb2

    plugin = start_plugin(client, command, extra_env)
    assert plugin.process.stderr is not None
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(plugin.process.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    with tls_channel(plugin, client) as channel:
        get_schema: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            "/tfplugin6.Provider/GetProviderSchema"
        )
        schema = get_schema(b"", timeout=30)
        shutdown: grpc.UnaryUnaryMultiCallable[grpc_controller_pb2.Empty, bytes] = channel.unary_unary(
            "/plugin.GRPCController/Shutdown", request_serializer=lambda m: m.SerializeToString()
        )
        shutdown(grpc_controller_pb2.Empty(), timeout=30)
    assert plugin.process.wait(timeout=30) == 0
    reader.join()
    return schema, stderr[0].decode()


def tls_channel(plugin: RunningPlugin, client: ClientIdentity) -> grpc.Channel:
    """A gRPC channel to `plugin` as Terraform opens it: mutual TLS, `client`'s certificate, the plugin's pinned."""
    import grpc  # here, not at the top: see schema_and_imports

    credentials = grpc.ssl_channel_credentials(
        root_certificates=plugin.server_cert_pem, private_key=client.key_pem, certificate_chain=client.cert_pem
    )
    return grpc.secure_channel(
        f"unix:{plugin.socket_path}", credentials, options=[("grpc.ssl_target_name_override", "localhost")]
    )
