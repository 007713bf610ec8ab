"""Byte transports under HTTP/2: plaintext, or TLS run in memory.

TLS runs on an ssl.SSLObject over memory BIOs rather than an SSLSocket so that one lock can guard
the TLS state while handler threads write and the reader thread reads: OpenSSL objects must not be
used from two threads at once, and a blocking SSLSocket would hold them across a recv().
"""

from __future__ import annotations

import ssl
from typing import Protocol


class Transport(Protocol):
    def receive(self, raw: bytes) -> bytes:
        """Feed bytes from the socket; return the plaintext they carried (possibly none)."""

    def send(self, plaintext: bytes) -> None:
        """Queue plaintext for the peer."""

    def outgoing(self) -> bytes:
        """Bytes to write to the socket now."""


class PlainTransport:
    def __init__(self) -> None:
        self._pending = bytearray()

    def receive(self, raw: bytes) -> bytes:
        return raw

    def send(self, plaintext: bytes) -> None:
        self._pending += plaintext

    def outgoing(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data


class TLSTransport:
    """Server-side TLS; raises ssl.SSLError from receive() when the client is refused."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._established = False
        self._queued = bytearray()  # plaintext written before the handshake finished

    def receive(self, raw: bytes) -> bytes:
        self._incoming.write(raw)
        if not self._established:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                return b""
            self._established = True
            if self._queued:
                self._tls.write(bytes(self._queued))
                self._queued.clear()
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self._tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def send(self, plaintext: bytes) -> None:
        if self._established:
            self._tls.write(plaintext)
        else:
            self._queued += plaintext

    def outgoing(self) -> bytes:
        return self._outgoing.read()
