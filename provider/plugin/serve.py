"""Serve a provider as a Terraform plugin: handshake, socket, TLS, gRPC, shutdown.

Start-up order matters for launch time: openssl starts making our certificate first, and while it
runs (on another core) the gRPC server is imported; the handshake line follows. tfplugin6's messages
and the provider itself are imported while Terraform connects and shakes hands with the server, or, when
the schema answer is cached (schema_cache.py), by the first call that needs them: the first launch
of every Terraform command only asks for the schema. Importing this module imports none of them.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
from collections.abc import Callable

from provider.plugin import handshake

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from provider.plugin.grpc_server import Method
    from provider.plugin.schema_cache import SchemaCache


class PluginSpec:
    """What `serve` needs to know of the provider it serves. A plain class: this module runs before openssl is
    started, and importing typing for a NamedTuple would delay it."""

    __slots__ = ("address", "log_module", "make_servicer", "schema_sources", "shipped_schema")

    def __init__(
        self,
        address: str,  # registry address, e.g. "registry.terraform.io/dbaas/dbaas"
        make_servicer: Callable[[], object],  # builds the object answering tfplugin6.Provider RPCs
        log_module: str,
        # The directories and files whose sources define the schema (the first a directory): its answer is then
        # kept between launches (schema_cache.py). Empty: no cache.
        schema_sources: tuple[str, ...] = (),
        # A file holding the schema answer, made when the release was built (`schema_answer`): a release's files
        # are checked against Terraform's lock file, so it is used as it is. None, or a file that cannot be read:
        # the cache.
        shipped_schema: str | None = None,
    ) -> None:
        self.address = address
        self.make_servicer = make_servicer
        self.log_module = log_module
        self.schema_sources = schema_sources
        self.shipped_schema = shipped_schema


def main(spec: PluginSpec, argv: list[str]) -> int:
    if "--debug" in argv:
        return _serve(spec, debug=True, protocol_version=6, client_cert_pem=None)
    try:
        shake = handshake.check_environment(os.environ)
    except handshake.HandshakeError as err:
        print(err, file=sys.stderr)
        return 1
    return _serve(spec, debug=False, protocol_version=shake.protocol_version, client_cert_pem=shake.client_cert_pem)


def _serve(spec: PluginSpec, *, debug: bool, protocol_version: int, client_cert_pem: str | None) -> int:
    if not debug:
        # Ctrl-C reaches the whole process group; Terraform asks us to stop through StopProvider.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    pending_identity = None
    if client_cert_pem:
        from provider.plugin.identity import start_identity

        pending_identity = start_identity()
    shutdown = threading.Event()
    from provider.plugin import hclog
    from provider.plugin.go_plugin_services import cached_schema_method, go_plugin_methods
    from provider.plugin.grpc_server import GrpcServer
    from provider.plugin.schema_cache import SchemaCache

    hclog.configure(os.environ, spec.log_module)
    server = GrpcServer(tls_context=None)
    # In debug mode Terraform attaches and detaches many times; only Ctrl-C ends the process.
    early = go_plugin_methods((lambda: None) if debug else shutdown.set)
    cache = SchemaCache(spec.schema_sources, spec.address) if spec.schema_sources else None
    cached_schema = _read_shipped(spec.shipped_schema) if spec.shipped_schema else None
    if cached_schema is None and cache is not None:
        cached_schema = cache.load()
    if cached_schema is not None:
        early.append(cached_schema_method(cached_schema, spec.address))
    failed = threading.Event()

    def load_provider() -> list[Method]:
        try:
            return _provider_methods(spec, None if cached_schema else cache)
        except BaseException:
            import logging  # configured by now (hclog); imported here to keep it off the path to openssl's start

            # Nothing can be served without the provider: end as a failed start ends, with its traceback.
            logging.getLogger(__name__).exception("the provider could not be loaded")
            failed.set()
            shutdown.set()
            return []

    server.serve_methods(early, later=load_provider)
    socket_dir = _private_directory()
    socket_path = os.path.join(socket_dir, "plugin.sock")
    try:
        listener = _listen(socket_path)
        identity = None
        if pending_identity is not None and client_cert_pem:
            from provider.plugin.tls import server_context

            identity = pending_identity.result()
            server.tls_context = server_context(identity, client_cert_pem)
        address = listener.getsockname()
        if debug:
            _announce_debug(spec.address, address, protocol_version)
        else:
            line = handshake.handshake_line(protocol_version, "unix", address, identity.cert_der if identity else None)
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
            # go-plugin reads our stdout until it ends and logs an error if the pipe is closed under
            # its reader when we exit: ending it now, with the handshake, leaves no such race. Anything
            # printed later goes to stderr, which Terraform logs.
            os.dup2(2, 1)
        threading.Thread(target=server.serve_forever, args=(listener,), daemon=True).start()
        if cached_schema is None:
            # Terraform's first call will be GetProviderSchema: the provider is imported at once, while
            # Terraform connects and shakes hands (TLS, HTTP/2). With the schema cached, the first call may
            # be all this launch serves; the provider is imported by the first call that needs it.
            server.load_later()
        _wait_for_end(shutdown, debug)
        listener.close()
    finally:
        _remove_quietly(os.unlink, socket_path)
        _remove_quietly(os.rmdir, socket_dir)
    sys.stdout.flush()
    sys.stderr.flush()
    # Handler threads may be parked in waits; Terraform expects us gone right after Shutdown.
    os._exit(1 if failed.is_set() else 0)


def _private_directory() -> str:
    """A new directory only we can enter, in PLUGIN_UNIX_SOCKET_DIR or the temporary directory."""
    # tempfile would do, but importing it costs several milliseconds of every launch.
    parent = os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or os.environ.get("TMPDIR") or "/tmp"
    while True:
        path = os.path.join(parent, f"tf-dbaas-{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def _remove_quietly(remove: Callable[[str], None], path: str) -> None:
    try:
        remove(path)
    except OSError:
        pass


def _listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    return listener


def _read_shipped(path: str) -> bytes | None:
    try:
        with open(path, "rb") as shipped:
            return shipped.read()
    except OSError:
        return None


def schema_answer(spec: PluginSpec) -> bytes:
    """The provider's GetProviderSchema answer, serialized the same way every time (what a release ships)."""
    from provider.plugin import tfplugin6

    servicer: Any = spec.make_servicer()
    schema = servicer.GetProviderSchema(tfplugin6.GetProviderSchema.Request(), None)
    if schema.diagnostics:
        raise RuntimeError(f"the provider's schema has errors: {list(schema.diagnostics)}")
    answer: bytes = schema.encode()
    return answer


def _provider_methods(spec: PluginSpec, cache: SchemaCache | None) -> list[Method]:
    """The provider's service, imported and made now; its schema answer is kept in `cache`, if given."""
    from provider.plugin import tfplugin6
    from provider.plugin.go_plugin_services import provider_methods

    servicer: Any = spec.make_servicer()
    methods = provider_methods(servicer, spec.address)
    if cache is not None:
        schema = servicer.GetProviderSchema(tfplugin6.GetProviderSchema.Request(), None)
        if not schema.diagnostics:
            cache.store(schema.encode())
    return methods


def _wait_for_end(shutdown: threading.Event, debug: bool) -> None:
    for signum in (signal.SIGTERM, signal.SIGHUP) + ((signal.SIGINT,) if debug else ()):
        signal.signal(signum, lambda *_: shutdown.set())
    parent = os.getppid()
    # If Terraform dies without telling us, do not linger as an orphan.
    while not shutdown.wait(0.5):
        if not debug and os.getppid() != parent:
            return


def _announce_debug(provider_address: str, socket_path: str, protocol_version: int) -> None:
    import json

    reattach = {
        provider_address: {
            "Protocol": "grpc",
            "ProtocolVersion": protocol_version,
            "Pid": os.getpid(),
            "Test": True,
            "Addr": {"Network": "unix", "String": socket_path},
        }
    }
    print(
        "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable "
        "with the following:\n"
    )
    quoted = json.dumps(reattach, separators=(",", ":")).replace("'", "'\"'\"'")
    print(f"\tTF_REATTACH_PROVIDERS='{quoted}'\n", flush=True)
