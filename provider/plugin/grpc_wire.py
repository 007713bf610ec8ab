"""gRPC over HTTP/2: the parts that are bytes and headers, no I/O.

Contract: `split_messages` cuts length-prefixed messages out of a request body, `frame` makes one,
`parse_timeout` reads the grpc-timeout header, `status_trailers` builds the trailers that end a call.
Compression is never negotiated with Terraform, so a compressed message is refused.
"""

from __future__ import annotations

import enum
import struct

_PREFIX = struct.Struct(">BI")
_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


class StatusCode(enum.IntEnum):
    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    RESOURCE_EXHAUSTED = 8
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14


class GrpcError(Exception):
    """Ends a call with a non-OK status; the message reaches the client."""

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def frame(message: bytes) -> bytes:
    """One uncompressed length-prefixed message."""
    return _PREFIX.pack(0, len(message)) + message


def split_messages(body: bytes) -> list[bytes]:
    """Every complete message in `body`; a partial or compressed one is a protocol error."""
    messages: list[bytes] = []
    offset = 0
    while offset < len(body):
        if len(body) - offset < _PREFIX.size:
            raise GrpcError(StatusCode.INTERNAL, "truncated gRPC message prefix")
        compressed, length = _PREFIX.unpack_from(body, offset)
        offset += _PREFIX.size
        if compressed:
            raise GrpcError(StatusCode.UNIMPLEMENTED, "compressed gRPC messages are not supported")
        if len(body) - offset < length:
            raise GrpcError(StatusCode.INTERNAL, "truncated gRPC message")
        messages.append(body[offset : offset + length])
        offset += length
    return messages


def parse_timeout(value: bytes | None) -> float | None:
    """Seconds from a grpc-timeout header such as b"30S" or b"250m"; None when absent or malformed."""
    if not value or len(value) < 2 or value[-1:] not in _TIMEOUT_UNITS or not value[:-1].isdigit():
        return None
    return int(value[:-1]) * _TIMEOUT_UNITS[value[-1:]]


def response_headers() -> list[tuple[bytes, bytes]]:
    return [(b":status", b"200"), (b"content-type", b"application/grpc")]


def status_trailers(code: StatusCode, message: str = "") -> list[tuple[bytes, bytes]]:
    trailers = [(b"grpc-status", str(int(code)).encode())]
    if message:
        trailers.append((b"grpc-message", _percent_encode(message)))
    return trailers


def _percent_encode(text: str) -> bytes:
    # The gRPC spec: printable ASCII except '%' as is, everything else as %XX of its UTF-8 bytes.
    return b"".join(
        bytes([byte]) if 0x20 <= byte <= 0x7E and byte != 0x25 else b"%%%02X" % byte for byte in text.encode()
    )
