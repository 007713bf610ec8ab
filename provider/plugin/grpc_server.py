"""A small gRPC server: HTTP/2 from provider.plugin.http2, TLS from Python's ssl, calls on worker threads.

Terraform is the only client. It keeps one HTTP/2 connection per provider process and runs up to
`-parallelism` calls on it at once, so calls run on a pool of worker threads (grown when all are
busy, never shrunk: Terraform bounds the concurrency) while a reader thread per connection feeds
the HTTP/2 parser. Quick calls (answered from the schema and the request alone: validation, schema,
state upgrades) run on the reader thread itself and the answers to those that arrived together leave
in one write: handing a 20 µs call to a worker and back cost several times the call. Unary calls and
"held" streams (go-plugin's stdio and broker streams, which Terraform opens and keeps open without
needing messages from us) are all a provider needs.
"""

from __future__ import annotations

import functools
import logging
import queue
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from provider.plugin import grpc_wire, http2
from provider.plugin.grpc_wire import GrpcError, StatusCode
from provider.plugin.protobuf import DecodeError, Message
from provider.plugin.transport import PlainTransport, TLSTransport, Transport

log = logging.getLogger(__name__)


class CallContext:
    """What a handler may know of its call: whether the client gave up on it (cancelled it, hung up, or let
    its deadline pass)."""

    __slots__ = ("cancelled", "method")

    def __init__(self, method: str) -> None:
        self.method = method
        self.cancelled = threading.Event()


class Method(NamedTuple):
    path: str  # "/package.Service/Method"
    request_type: type[Message] | None  # None: the handler takes and returns serialized bytes
    handler: Callable[[Any, CallContext], Any]
    kind: Literal["unary", "quick", "held"] = "unary"  # quick: unary, never waits, run by the reader thread
    after_reply: Callable[[], None] | None = None  # runs once the response is on the wire


class _Call:
    __slots__ = ("body", "context", "method")

    def __init__(self, context: CallContext, method: Method | None) -> None:
        self.context = context
        self.method = method
        self.body = bytearray()


class WorkerPool:
    """Runs calls on reused threads: starting a thread per call costs more than most calls."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            start_worker = self._idle == 0
            if not start_worker:
                self._idle -= 1
        self._tasks.put(task)
        if start_worker:
            threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while True:
            self._tasks.get()()
            with self._lock:
                self._idle += 1


class _Methods:
    """The methods served, by path: a first few at once, the others once `later` has made them.

    `later` (which imports the provider) runs once: when asked to (`load_later`), or for the first call
    of a method that is not among the first, which waits for it.
    """

    def __init__(self) -> None:
        self._by_path: dict[str, Method] = {}
        self._later: Callable[[], list[Method]] | None = None
        self._loading = threading.Lock()

    def serve(self, methods: list[Method], later: Callable[[], list[Method]] | None) -> None:
        self._by_path = {method.path: method for method in methods}
        self._later = later

    def load_later(self) -> None:
        with self._loading:
            if self._later is not None:
                made = self._later()
                self._by_path = {**self._by_path, **{method.path: method for method in made}}
                self._later = None

    def find(self, path: str) -> Method | None:
        method = self._by_path.get(path)
        if method is None and self._later is not None:
            self.load_later()
            method = self._by_path.get(path)
        return method


_RESPONSE_HEADERS = http2.encode_headers(grpc_wire.response_headers())
_OK_TRAILERS = http2.encode_headers(grpc_wire.status_trailers(StatusCode.OK))


class Connection:
    """One client connection; `serve()` reads until the peer goes away."""

    def __init__(self, sock: socket.socket, transport: Transport, methods: _Methods, pool: WorkerPool) -> None:
        self._pool = pool
        self._sock = sock
        self._transport = transport
        self._methods = methods
        self._lock = threading.Condition()
        self._closed = False
        self._calls: dict[int, _Call] = {}
        self._h2 = http2.ServerConnection()

    def serve(self) -> None:
        try:
            with self._lock:
                self._flush()
            while True:
                raw = self._sock.recv(262144)
                if not raw:
                    break
                with self._lock:
                    started = self._receive(raw)
                quick = []
                for stream_id, call in started:
                    if call.method is not None and call.method.kind == "quick":
                        quick.append((stream_id, call))
                    else:
                        self._pool.submit(functools.partial(self._run, stream_id, call))
                if quick:
                    self._run_quick(quick)
        except ssl.SSLError as err:
            self._send_tls_alert()
            log.warning("refused a connection that did not present Terraform's client certificate: %s", err)
        except (BrokenPipeError, ConnectionResetError):
            pass  # Terraform hangs up once it is done with us: the normal end, not worth a line
        except (OSError, http2.Http2Error) as err:
            log.debug("connection ended: %s", err)
            with self._lock:
                self._flush_quietly()
        finally:
            self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for call in self._calls.values():
                call.context.cancelled.set()
            self._lock.notify_all()
        try:
            self._sock.close()
        except OSError:
            pass

    def _send_tls_alert(self) -> None:
        try:
            self._sock.sendall(self._transport.outgoing())
        except OSError:
            pass

    def _receive(self, raw: bytes) -> list[tuple[int, _Call]]:
        plaintext = self._transport.receive(raw)
        started: list[tuple[int, _Call]] = []
        for event in self._h2.receive(plaintext) if plaintext else ():
            if isinstance(event, http2.DataReceived):
                call = self._calls.get(event.stream_id)
                if call is not None and call.method is not None and call.method.kind != "held":
                    call.body += event.data
                    if event.ended:
                        started.append((event.stream_id, call))
            elif isinstance(event, http2.RequestStarted):
                call = self._open_call(event.stream_id, event.headers)
                if event.ended and call is not None and call.method is not None and call.method.kind != "held":
                    started.append((event.stream_id, call))
            elif isinstance(event, http2.StreamReset):
                call = self._calls.pop(event.stream_id, None)
                if call is not None:
                    call.context.cancelled.set()
            elif isinstance(event, http2.WindowOpened):
                self._lock.notify_all()
            elif isinstance(event, http2.ConnectionEnded):
                self._closed = True
        self._flush()
        return started

    def _open_call(self, stream_id: int, headers: dict[bytes, bytes]) -> _Call | None:
        path = headers.get(b":path", b"").decode("utf-8", "replace")
        timeout = grpc_wire.parse_timeout(headers.get(b"grpc-timeout"))
        method = self._methods.find(path)
        if method is None:
            log.warning("no such gRPC method %s", path)
            self._h2.respond_headers(stream_id, _RESPONSE_HEADERS)
            trailers = grpc_wire.status_trailers(StatusCode.UNIMPLEMENTED, f"unknown method {path}")
            self._h2.respond_headers(stream_id, http2.encode_headers(trailers), end_stream=True)
            return None
        call = self._calls[stream_id] = _Call(CallContext(method=path), method)
        if timeout is not None:  # Terraform sets none; a client that does gets its deadline kept as a cancellation
            expiry = threading.Timer(timeout, call.context.cancelled.set)
            expiry.daemon = True
            expiry.start()
        if method.kind == "held":
            self._h2.respond_headers(stream_id, _RESPONSE_HEADERS)
        return call

    def _run(self, stream_id: int, call: _Call) -> None:
        self._deliver(stream_id, call, *self._answer(call))

    def _deliver(self, stream_id: int, call: _Call, body: bytes, trailers: bytes) -> None:
        with self._lock:
            self._write_reply(stream_id, body, trailers)
            self._flush_quietly()  # once per response: headers, data and trailers in one write
        _after_reply(call)

    def _run_quick(self, calls: list[tuple[int, _Call]]) -> None:
        answers = [(stream_id, call, *self._answer(call)) for stream_id, call in calls]
        written, too_big = [], []
        with self._lock:
            for stream_id, call, body, trailers in answers:
                # Only this thread reads the client's window updates: an answer it could not send whole
                # now is sent by a worker, which can wait for them.
                if len(body) <= self._h2.send_window(stream_id):
                    self._write_reply(stream_id, body, trailers)
                    written.append(call)
                else:
                    too_big.append((stream_id, call, body, trailers))
            self._flush_quietly()  # every answer in one write
        for call in written:
            _after_reply(call)
        for stream_id, call, body, trailers in too_big:
            self._pool.submit(functools.partial(self._deliver, stream_id, call, body, trailers))

    def _answer(self, call: _Call) -> tuple[bytes, bytes]:
        """The call's response body (a gRPC frame) and its encoded trailers."""
        assert call.method is not None
        method = call.method
        try:
            messages = grpc_wire.split_messages(bytes(call.body))
            if len(messages) != 1:
                raise GrpcError(StatusCode.INTERNAL, f"expected one request message, got {len(messages)}")
            if method.request_type is None:
                answer = method.handler(messages[0], call.context)
            else:
                try:
                    request = method.request_type.decode(messages[0])
                except DecodeError as err:
                    raise GrpcError(StatusCode.INVALID_ARGUMENT, f"malformed request: {err}") from err
                answer = method.handler(request, call.context).encode()
            return grpc_wire.frame(answer), _OK_TRAILERS
        except GrpcError as err:
            return b"", http2.encode_headers(grpc_wire.status_trailers(err.code, err.message))
        except Exception as err:
            log.exception("%s failed", method.path)
            trailers = grpc_wire.status_trailers(StatusCode.INTERNAL, f"{type(err).__name__}: {err}")
            return b"", http2.encode_headers(trailers)

    def _write_reply(self, stream_id: int, body: bytes, trailers: bytes) -> None:
        """Queue the answer of a stream (with the lock held); the caller flushes."""
        self._calls.pop(stream_id, None)
        if self._closed or not self._h2.is_open(stream_id):
            log.debug("stream %d ended before its answer", stream_id)
            return
        try:
            self._h2.respond_headers(stream_id, _RESPONSE_HEADERS)
            self._send_body(stream_id, body)
            self._h2.respond_headers(stream_id, trailers, end_stream=True)
        except OSError as err:
            log.debug("could not answer stream %d: %s", stream_id, err)

    def _send_body(self, stream_id: int, body: bytes) -> None:
        # Called with the lock held; waits (releasing it) while the client's flow-control window is shut.
        remaining = memoryview(body)
        while remaining:
            remaining = remaining[self._h2.send_data(stream_id, remaining) :]
            if remaining:
                if self._closed or not self._h2.is_open(stream_id):
                    raise OSError("stream closed while sending")
                self._flush()
                self._lock.wait(1.0)

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._transport.send(data)
        out = self._transport.outgoing()
        if out:
            self._sock.sendall(out)

    def _flush_quietly(self) -> None:
        try:
            self._flush()
        except OSError:
            pass


def _after_reply(call: _Call) -> None:
    if call.method is not None and call.method.after_reply is not None:
        call.method.after_reply()


class GrpcServer:
    """Accepts connections on a listening socket and serves on each the methods given to `serve_methods`.

    Connections are accepted, and their TLS and HTTP/2 set up, before all methods are known: the
    provider may not be imported yet, and calls of its methods wait for it.
    """

    def __init__(self, tls_context: ssl.SSLContext | None) -> None:
        self._methods = _Methods()
        self.tls_context = tls_context  # may be set until serve_forever starts
        self._pool = WorkerPool()

    def serve_methods(self, methods: list[Method], later: Callable[[], list[Method]] | None = None) -> None:
        """Serve `methods`, and those `later` makes when first needed (or asked for by `load_later`)."""
        self._methods.serve(methods, later)

    def load_later(self) -> None:
        self._methods.load_later()

    def serve_forever(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # the listener was closed: we are shutting down
            transport: Transport = TLSTransport(self.tls_context) if self.tls_context else PlainTransport()
            connection = Connection(sock, transport, self._methods, self._pool)
            threading.Thread(target=connection.serve, daemon=True).start()
