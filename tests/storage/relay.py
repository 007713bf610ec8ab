"""A TCP relay on loopback in front of a real S3 endpoint, to make its faults real: the endpoint goes down
(connections refused, those open cut) and comes back on the same port, or answers every request with an
S3 error (503 SlowDown: throttling; 500 InternalError) until it forwards again.

Forwarding is byte for byte, so TLS runs end to end with the endpoint. An error answer needs TLS of its own:
the relay presents `certificate` (for `localhost`), which clients trust through a CA bundle holding both the
endpoint's CA and that certificate (`bundle`).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from contextlib import suppress
from pathlib import Path

_ERROR_BODY = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
_REASONS = {500: "Internal Server Error", 503: "Slow Down"}


def self_signed_localhost(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `localhost` and its key, made by openssl in `directory`."""
    certificate, key = directory / "relay.pem", directory / "relay.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key


def bundle(path: Path, *certificates: Path) -> Path:
    """A CA file trusting each of `certificates` (PEM files), readable by everyone (the database account too)."""
    path.write_text("".join(certificate.read_text() for certificate in certificates))
    path.chmod(0o644)
    return path


class Relay:
    def __init__(self, upstream_port: int, certificate: Path, key: Path) -> None:
        self._upstream = upstream_port
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(certificate, key)
        probe = socket.create_server(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._error: tuple[int, str] | None = None  # (status, S3 error code) to answer, or None: forward
        self._lock = threading.Lock()

    def up(self) -> None:
        """Listen (again) on the relay's port."""
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and cut every connection open: an endpoint that is gone."""
        if self._listener is None:
            return
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() in progress (close alone does not)
        self._listener.close()
        self._listener = None
        self._cut()

    def answer(self, status: int, code: str) -> None:
        """Answer every new request with S3 error `code` (HTTP `status`); connections open are cut."""
        self._error = (status, code)
        self._cut()

    def forward(self) -> None:
        """Forward every new connection to the endpoint again."""
        self._error = None

    def _cut(self) -> None:
        with self._lock:
            for sock in self._open:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            error = self._error
            if error is not None:
                threading.Thread(target=self._refuse, args=(client, *error), daemon=True).start()
                continue
            server = socket.create_connection(("127.0.0.1", self._upstream))
            with self._lock:
                self._open += [client, server]
            for reader, writer in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(reader, writer), daemon=True).start()

    def _refuse(self, client: socket.socket, status: int, code: str) -> None:
        """Answer the connection's request with the error, as an S3 endpoint does, and close it."""
        with suppress(OSError, ssl.SSLError), self._tls.wrap_socket(client, server_side=True) as tls:
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = tls.recv(65536)
                if not chunk:
                    return
                received += chunk
            head, _, body = received.partition(b"\r\n\r\n")
            fields = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(b":") for line in head.split(b"\r\n")[1:])
            }
            # A client waiting for 100-continue sends no body once it has the final answer; others send it first.
            if fields.get(b"expect", b"").lower() != b"100-continue":
                length = int(fields.get(b"content-length", b"0"))
                while len(body) < length and (chunk := tls.recv(65536)):
                    body += chunk
            answer = _ERROR_BODY.format(code=code, message=_REASONS[status]).encode()
            tls.sendall(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/xml\r\n"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )

    @staticmethod
    def _pump(reader: socket.socket, writer: socket.socket) -> None:
        with suppress(OSError):
            while data := reader.recv(65536):
                writer.sendall(data)
        with suppress(OSError):
            writer.shutdown(socket.SHUT_WR)
