"""The committed protobuf code in tests/pb must match proto/, and the
protocol definitions must have the shape Terraform (protocol 6.8) and
go-plugin expect on the wire."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from provider.plugin import tfplugin6

REPO_ROOT = Path(__file__).resolve().parents[2]
GENERATE_PY = REPO_ROOT / "proto" / "generate.py"


def _load_generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_proto_generate", GENERATE_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------
# Generated code is up to date
# --------------------------------------------------------------------------


def test_committed_code_matches_proto() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is needed to regenerate tests/pb")
    gen = _load_generate()
    problems = gen.check()
    assert not problems, "tests/pb is out of date; run `python proto/generate.py`:\n" + "\n".join(problems)


def test_check_cli_exit_code() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is needed to regenerate tests/pb")
    res = subprocess.run(
        [sys.executable, str(GENERATE_PY), "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_import_rewrite_of_sibling_modules() -> None:
    gen = _load_generate()
    local = {"grpc_stdio_pb2", "tfplugin6_pb2"}
    src = (
        "from google.protobuf import empty_pb2 as google_dot_protobuf_dot_empty__pb2\n"
        "import grpc_stdio_pb2 as grpc__stdio__pb2\n"
        "import tfplugin6_pb2 as _tfplugin6_pb2\n"
        "import other_pb2 as other__pb2\n"
    )
    out = gen._fix_imports(src, local)
    assert out.splitlines() == [
        "from google.protobuf import empty_pb2 as google_dot_protobuf_dot_empty__pb2",
        "from tests.pb import grpc_stdio_pb2 as grpc__stdio__pb2",
        "from tests.pb import tfplugin6_pb2 as _tfplugin6_pb2",
        "import other_pb2 as other__pb2",
    ]


# --------------------------------------------------------------------------
# Protocol shape (tfplugin6 v6.8, go-plugin, grpc health)
# --------------------------------------------------------------------------


def _fields(descriptor) -> dict[str, tuple[int, str]]:  # type: ignore[no-untyped-def]
    """name -> (number, type name or scalar type id) for a message descriptor."""
    out = {}
    for f in descriptor.fields:
        kind = f.message_type.full_name if f.message_type else (f.enum_type.full_name if f.enum_type else str(f.type))
        out[f.name] = (f.number, kind)
    return out


def test_provider_service_methods() -> None:
    from tests.pb import tfplugin6_pb2 as pb

    svc = pb.DESCRIPTOR.services_by_name["Provider"]
    assert svc.full_name == "tfplugin6.Provider"
    # the RPCs the provider serves (provider/plugin/tfplugin6.py), those of tfplugin6 6.8
    assert tuple(m.name for m in svc.methods) == tfplugin6.PROVIDER_RPCS
    for m in svc.methods:
        # every RPC is unary and uses the <Name>.Request / <Name>.Response envelopes
        assert not m.client_streaming and not m.server_streaming, m.name
        assert m.input_type.full_name == f"tfplugin6.{m.name}.Request"
        assert m.output_type.full_name == f"tfplugin6.{m.name}.Response"


def test_tfplugin6_field_numbers() -> None:
    from google.protobuf.descriptor import FieldDescriptor as FD

    from tests.pb import tfplugin6_pb2 as pb

    assert _fields(pb.DynamicValue.DESCRIPTOR) == {
        "msgpack": (1, str(FD.TYPE_BYTES)),
        "json": (2, str(FD.TYPE_BYTES)),
    }
    assert _fields(pb.Diagnostic.DESCRIPTOR) == {
        "severity": (1, "tfplugin6.Diagnostic.Severity"),
        "summary": (2, str(FD.TYPE_STRING)),
        "detail": (3, str(FD.TYPE_STRING)),
        "attribute": (4, "tfplugin6.AttributePath"),
    }
    attr = {k: v[0] for k, v in _fields(pb.Schema.Attribute.DESCRIPTOR).items()}
    assert attr == {
        "name": 1,
        "type": 2,
        "description": 3,
        "required": 4,
        "optional": 5,
        "computed": 6,
        "sensitive": 7,
        "description_kind": 8,
        "deprecated": 9,
        "nested_type": 10,
        "write_only": 11,
    }
    assert pb.Schema.NestedBlock.NestingMode.Value("GROUP") == 5
    assert pb.StringKind.Value("MARKDOWN") == 1
    # odd but real: diagnostics is field 2 here
    assert _fields(pb.ValidateProviderConfig.Response.DESCRIPTOR)["diagnostics"][0] == 2
    gps = _fields(pb.GetProviderSchema.Response.DESCRIPTOR)
    assert gps["functions"][0] == 7 and gps["ephemeral_resource_schemas"][0] == 8
    assert _fields(pb.ValidateResourceConfig.Request.DESCRIPTOR)["client_capabilities"] == (
        3,
        "tfplugin6.ClientCapabilities",
    )
    assert _fields(pb.ClientCapabilities.DESCRIPTOR)["write_only_attributes_allowed"][0] == 2
    open_resp = pb.OpenEphemeralResource.Response.DESCRIPTOR.fields_by_name
    assert open_resp["renew_at"].message_type.full_name == "google.protobuf.Timestamp"
    assert open_resp["renew_at"].has_presence and open_resp["private"].has_presence
    assert [f.name for f in pb.AttributePath.Step.DESCRIPTOR.oneofs_by_name["selector"].fields] == [
        "attribute_name",
        "element_key_string",
        "element_key_int",
    ]
    assert "Error" in pb.StopProvider.Response.DESCRIPTOR.fields_by_name


def test_wire_bytes() -> None:
    from tests.pb import tfplugin6_pb2 as pb

    assert pb.DynamicValue(msgpack=b"\x80").SerializeToString() == b"\x0a\x01\x80"
    assert pb.DynamicValue(json=b"{}").SerializeToString() == b"\x12\x02{}"
    diag = pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary="x")
    assert diag.SerializeToString() == b"\x08\x01\x12\x01x"


def test_go_plugin_and_health_services() -> None:
    from tests.pb import grpc_broker_pb2, grpc_controller_pb2, grpc_stdio_pb2, health_pb2

    def method_paths(module: ModuleType) -> dict[str, tuple[bool, bool]]:
        return {
            f"/{svc.full_name}/{m.name}": (m.client_streaming, m.server_streaming)
            for svc in module.DESCRIPTOR.services_by_name.values()
            for m in svc.methods
        }

    assert method_paths(grpc_controller_pb2) == {"/plugin.GRPCController/Shutdown": (False, False)}
    shutdown = grpc_controller_pb2.DESCRIPTOR.services_by_name["GRPCController"].methods_by_name["Shutdown"]
    assert shutdown.input_type.full_name == shutdown.output_type.full_name == "plugin.Empty"

    assert method_paths(grpc_stdio_pb2) == {"/plugin.GRPCStdio/StreamStdio": (False, True)}
    stream = grpc_stdio_pb2.DESCRIPTOR.services_by_name["GRPCStdio"].methods_by_name["StreamStdio"]
    assert stream.input_type.full_name == "google.protobuf.Empty"
    assert stream.output_type.full_name == "plugin.StdioData"
    assert grpc_stdio_pb2.StdioData.Channel.Value("STDERR") == 2

    assert method_paths(grpc_broker_pb2) == {"/plugin.GRPCBroker/StartStream": (True, True)}
    knock = _fields(grpc_broker_pb2.ConnInfo.DESCRIPTOR)["knock"]
    assert knock == (4, "plugin.ConnInfo.Knock")

    assert method_paths(health_pb2) == {
        "/grpc.health.v1.Health/Check": (False, False),
        "/grpc.health.v1.Health/Watch": (False, True),
    }
    assert health_pb2.HealthCheckResponse.ServingStatus.Value("SERVING") == 1
