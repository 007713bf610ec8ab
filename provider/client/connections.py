"""Keep-alive HTTP connections to the control plane, shared by Terraform's parallel operations.

Built on the standard library's http.client: importing it costs ~7 ms where urllib3 costs ~33, and the client
is made in ConfigureProvider of every plan, on the path Terraform waits on. `Pool.request` sends one request on
an idle connection (or a new one), reads the whole answer and keeps the connection for the next request unless
either side ends it. Failures are raised as `ConnectFailed` (no connection: nothing was sent), `NoAnswer` (the
answer did not come in time) or `ConnectionLost`, each caused by the OSError or http.client error behind it.
HTTPS is verified against the system's certificate store (SSL_CERT_FILE and SSL_CERT_DIR are honoured).
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import NamedTuple
from urllib.parse import urlsplit


class TransportError(Exception):
    """The request could not be completed; the cause is the error behind it."""


class ConnectFailed(TransportError):
    """No connection could be made (refused, unknown host, connect timeout, TLS handshake): nothing was sent."""


class NoAnswer(TransportError):
    """The request was sent, or partly sent, and no answer came within the timeout."""


class ConnectionLost(TransportError):
    """The connection ended before the whole answer was read."""


class Answer(NamedTuple):
    status: int
    reason: str
    headers: http.client.HTTPMessage
    body: bytes


class Pool:
    """Connections to the origin of `endpoint` (its scheme, host and port); at most `size` at once, callers
    beyond that wait for one. `timeout` (seconds) bounds connecting and each wait for the server."""

    def __init__(self, endpoint: str, *, timeout: float, size: int) -> None:
        parts = urlsplit(endpoint)
        try:
            port = parts.port
        except ValueError as err:
            raise ValueError(f"the control plane endpoint {endpoint!r} has an invalid port") from err
        if not parts.hostname:
            raise ValueError(f"the control plane endpoint {endpoint!r} names no host")
        host = parts.hostname
        self._connect: Callable[[], http.client.HTTPConnection]
        if parts.scheme == "https":
            context = ssl.create_default_context()
            self._connect = lambda: http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            self._connect = lambda: http.client.HTTPConnection(host, port, timeout=timeout)
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._idle: list[http.client.HTTPConnection] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the idle connections; those in use are closed when their request ends."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def request(self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]) -> Answer:
        """Send `method target` (an absolute path with its query) and return the whole answer."""
        with self._slots:
            if self._closed:
                raise RuntimeError("the control plane client is closed")
            connection = self._take_idle() or self._new_connection()
            try:
                connection.request(method, target, body=body, headers=dict(headers))
                response = connection.getresponse()
                answer = Answer(response.status, response.reason, response.headers, response.read())
            except TimeoutError as err:
                connection.close()
                raise NoAnswer(err) from err
            except (OSError, http.client.HTTPException) as err:
                connection.close()
                raise ConnectionLost(err) from err
            if response.will_close:
                connection.close()
            else:
                self._give_back(connection)
            return answer

    def _new_connection(self) -> http.client.HTTPConnection:
        connection = self._connect()
        try:
            connection.connect()
        except OSError as err:  # ssl.SSLError included: a certificate is refused before anything is sent
            connection.close()
            raise ConnectFailed(err) from err
        return connection

    def _take_idle(self) -> http.client.HTTPConnection | None:
        """An idle connection the server has not closed meanwhile (keep-alive ends after a few idle seconds)."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                connection = self._idle.pop()
            if connection.sock is not None and not _readable(connection.sock):
                return connection
            connection.close()  # readable while idle: the server's end of the connection (or garbage)

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()  # not select.select: it refuses descriptors past 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
