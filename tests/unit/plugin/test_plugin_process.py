"""The real plugin executable, spoken to as Terraform would: handshake, mutual TLS, RPCs, shutdown."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator

import grpc
import pytest

from tests.pb import grpc_controller_pb2, health_pb2, tfplugin6_pb2
from tests.plugin_process import REPO, ClientIdentity, RunningPlugin, make_client_identity, start_plugin, tls_channel


@pytest.fixture(scope="module")
def terraform_like_client() -> ClientIdentity:
    return make_client_identity("P-521")


@pytest.fixture
def plugin(terraform_like_client: ClientIdentity) -> Iterator[RunningPlugin]:
    running = start_plugin(terraform_like_client)
    yield running
    running.process.kill()
    running.process.wait()


def _call(channel: grpc.Channel, path: str, request: object, response_type: type) -> object:
    method = channel.unary_unary(
        path, request_serializer=lambda m: m.SerializeToString(), response_deserializer=response_type.FromString
    )
    return method(request, timeout=10)


def test_run_by_hand_prints_one_line_and_exits_1() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_MAGIC_COOKIE"}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run([sys.executable, "-m", "provider.main"], capture_output=True, env=env, timeout=30)
    assert result.returncode == 1
    assert result.stdout == b""
    assert len(result.stderr.decode().strip().splitlines()) == 1
    assert b"Terraform plugin" in result.stderr


def test_handshake_line_and_private_socket_directory(plugin: RunningPlugin) -> None:
    core, protocol, network, address, kind, cert = plugin.handshake
    assert (core, protocol, network, kind) == ("1", "6", "unix", "grpc")
    assert not cert.endswith("=")
    assert os.stat(os.path.dirname(address)).st_mode & 0o777 == 0o700


def test_terraform_certificate_is_served_and_schema_returned(
    plugin: RunningPlugin, terraform_like_client: ClientIdentity
) -> None:
    with tls_channel(plugin, terraform_like_client) as channel:
        response = _call(
            channel,
            "/tfplugin6.Provider/GetProviderSchema",
            tfplugin6_pb2.GetProviderSchema.Request(),
            tfplugin6_pb2.GetProviderSchema.Response,
        )
        assert isinstance(response, tfplugin6_pb2.GetProviderSchema.Response)
        names = [attr.name for attr in response.provider.block.attributes]
        assert names == ["endpoint", "project", "token"]
        assert response.server_capabilities.get_provider_schema_optional
        health = _call(
            channel,
            "/grpc.health.v1.Health/Check",
            health_pb2.HealthCheckRequest(service="plugin"),
            health_pb2.HealthCheckResponse,
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING  # type: ignore[attr-defined]


def test_client_with_another_certificate_is_refused(plugin: RunningPlugin) -> None:
    stranger = make_client_identity("P-256")
    with tls_channel(plugin, stranger) as channel, pytest.raises(grpc.RpcError) as err:
        _call(
            channel,
            "/tfplugin6.Provider/GetProviderSchema",
            tfplugin6_pb2.GetProviderSchema.Request(),
            tfplugin6_pb2.GetProviderSchema.Response,
        )
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]


def test_client_without_certificate_is_refused(plugin: RunningPlugin) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=plugin.server_cert_pem.decode())
    context.set_alpn_protocols(["h2"])
    with socket.socket(socket.AF_UNIX) as raw:
        raw.connect(plugin.socket_path)
        with (
            context.wrap_socket(raw, server_hostname="localhost") as tls,
            pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)),
        ):
            tls.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            if tls.recv(1024) == b"":
                raise ConnectionResetError("closed without serving")


def test_shutdown_ends_the_process_and_removes_the_socket(
    plugin: RunningPlugin, terraform_like_client: ClientIdentity
) -> None:
    with tls_channel(plugin, terraform_like_client) as channel:
        _call(channel, "/plugin.GRPCController/Shutdown", grpc_controller_pb2.Empty(), grpc_controller_pb2.Empty)
    assert plugin.process.wait(timeout=5) == 0
    assert not os.path.exists(os.path.dirname(plugin.socket_path))


def test_every_provider_rpc_answers(plugin: RunningPlugin, terraform_like_client: ClientIdentity) -> None:
    service = tfplugin6_pb2.DESCRIPTOR.services_by_name["Provider"]
    with tls_channel(plugin, terraform_like_client) as channel:
        for rpc in service.methods:
            request_type = getattr(tfplugin6_pb2, rpc.name).Request
            response_type = getattr(tfplugin6_pb2, rpc.name).Response
            _call(channel, f"/tfplugin6.Provider/{rpc.name}", request_type(), response_type)


def test_plaintext_without_client_certificate() -> None:
    running = start_plugin(None)
    try:
        assert running.handshake[5] == ""
        with grpc.insecure_channel(f"unix:{running.socket_path}") as channel:
            response = _call(
                channel,
                "/tfplugin6.Provider/GetMetadata",
                tfplugin6_pb2.GetMetadata.Request(),
                tfplugin6_pb2.GetMetadata.Response,
            )
            assert isinstance(response, tfplugin6_pb2.GetMetadata.Response)
            _call(channel, "/plugin.GRPCController/Shutdown", grpc_controller_pb2.Empty(), grpc_controller_pb2.Empty)
        assert running.process.wait(timeout=5) == 0
    finally:
        running.process.kill()


def test_sigint_is_ignored_while_terraform_is_in_charge(plugin: RunningPlugin) -> None:
    plugin.process.send_signal(2)
    with pytest.raises(subprocess.TimeoutExpired):
        plugin.process.wait(timeout=0.5)


def test_a_provider_that_cannot_be_loaded_ends_the_process_with_its_error(
    terraform_like_client: ClientIdentity,
) -> None:
    code = (
        "import sys\n"
        "from provider.plugin.serve import PluginSpec, main\n"
        "def broken():\n"
        "    raise ImportError('no such provider module')\n"
        "sys.exit(main(PluginSpec('registry.terraform.io/x/broken', broken, 'provider.broken'), []))\n"
    )
    running = start_plugin(terraform_like_client, [sys.executable, "-c", code])
    try:
        assert running.process.wait(timeout=30) == 1
        assert not os.path.exists(os.path.dirname(running.socket_path))
        assert running.process.stderr is not None
        stderr = running.process.stderr.read().decode()
        assert "the provider could not be loaded" in stderr and "no such provider module" in stderr
    finally:
        running.process.kill()
