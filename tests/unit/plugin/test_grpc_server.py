"""The gRPC server over a real socket pair, driven frame by frame as a client would: quick calls (answered on
the connection's reader thread) and calls on workers, with the client's flow control in the way."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import hpack
import pytest

from provider.plugin import grpc_wire, http2
from provider.plugin.grpc_server import CallContext, GrpcServer, Method

BIG = b"s" * 5000


def _echo(request: bytes, context: CallContext) -> bytes:
    return request


def _big(request: bytes, context: CallContext) -> bytes:
    return BIG


METHODS = [
    Method("/t.S/QuickEcho", None, _echo, kind="quick"),
    Method("/t.S/QuickBig", None, _big, kind="quick"),
    Method("/t.S/Echo", None, _echo),
]


class Client:
    """The client end of one connection: writes requests, reads frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.encoder = hpack.Encoder()
        self.inbox = b""
        self.bodies: dict[int, bytes] = {}  # the data received on each stream

    def request(self, stream_id: int, path: str, message: bytes) -> bytes:
        headers = [(b":method", b"POST"), (b":scheme", b"http"), (b":path", path.encode()), (b"te", b"trailers")]
        return http2.frame(http2.HEADERS, http2.END_HEADERS, stream_id, self.encoder.encode(headers)) + http2.frame(
            http2.DATA, http2.END_STREAM, stream_id, grpc_wire.frame(message)
        )

    def read_until_ended(self, streams: set[int]) -> dict[int, bytes]:
        """Read until every stream in `streams` has its trailers; the data received on each of them."""
        ended: set[int] = set()
        while not streams <= ended:
            while len(self.inbox) < 9 or len(self.inbox) < 9 + int.from_bytes(self.inbox[:3], "big"):
                chunk = self.sock.recv(65536)
                assert chunk, "the server hung up"
                self.inbox += chunk
            length = int.from_bytes(self.inbox[:3], "big")
            kind, flags, stream_id = self.inbox[3], self.inbox[4], struct.unpack(">L", self.inbox[5:9])[0]
            payload, self.inbox = self.inbox[9 : 9 + length], self.inbox[9 + length :]
            if kind == http2.DATA:
                self.bodies[stream_id] = self.bodies.get(stream_id, b"") + payload
            elif kind == http2.HEADERS and flags & http2.END_STREAM:
                ended.add(stream_id)
        return {stream_id: self.bodies.get(stream_id, b"") for stream_id in streams}


@pytest.fixture
def client() -> Iterator[Client]:
    server = GrpcServer(tls_context=None)
    server.serve_methods(METHODS)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    threading.Thread(target=server.serve_forever, args=(listener,), daemon=True).start()
    sock = socket.create_connection(listener.getsockname(), timeout=10)
    yield Client(sock)
    sock.close()
    listener.close()


def test_quick_and_worker_calls_sent_together_all_get_their_answers(client: Client) -> None:
    wire = http2.PREFACE + http2.frame(http2.SETTINGS, 0, 0)
    for stream_id in (1, 3, 5, 7):
        path = "/t.S/Echo" if stream_id == 3 else "/t.S/QuickEcho"
        wire += client.request(stream_id, path, f"m{stream_id}".encode())
    client.sock.sendall(wire)
    bodies = client.read_until_ended({1, 3, 5, 7})
    assert bodies == {stream_id: grpc_wire.frame(f"m{stream_id}".encode()) for stream_id in (1, 3, 5, 7)}


def test_a_quick_answer_larger_than_the_clients_window_waits_for_it_without_stopping_the_reader(
    client: Client,
) -> None:
    # A window of 100 bytes per stream: the 5005-byte answer cannot leave at once. The reader thread, which
    # ran the call, must go on reading: the window updates that let the rest through come to it.
    settings = struct.pack(">HL", http2.SETTINGS_INITIAL_WINDOW_SIZE, 100)
    client.sock.sendall(
        http2.PREFACE + http2.frame(http2.SETTINGS, 0, 0, settings) + client.request(1, "/t.S/QuickBig", b"")
    )
    client.sock.sendall(client.request(3, "/t.S/QuickEcho", b"after"))
    assert client.read_until_ended({3}) == {3: grpc_wire.frame(b"after")}  # the reader did not stop
    client.sock.sendall(http2.frame(http2.WINDOW_UPDATE, 0, 1, struct.pack(">L", 10000)))
    assert client.read_until_ended({1}) == {1: grpc_wire.frame(BIG)}
