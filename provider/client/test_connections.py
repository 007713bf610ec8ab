"""The connection pool against real HTTP and HTTPS servers on loopback (http.server, with Python's ssl for TLS):
keep-alive reuse, a connection the server ended while idle, the bound on connections, timeouts, and HTTPS
verified against the certificate store the environment names."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from provider.client import Client, Unreachable
from provider.client.connections import ConnectFailed, NoAnswer, Pool
from tests.storage.relay import self_signed_localhost


class CountingServer(ThreadingHTTPServer):
    """Answers every request 200 with a JSON body; counts connections, and closes each after its first answer
    when `close_after_answer` is set (as a server does when a keep-alive connection has been idle too long)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _CountingHandler)
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.close_after_answer = False
        self.closed = threading.Event()
        self.release = threading.Event()  # set: answers are not held back
        self.release.set()
        self.lock = threading.Lock()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.lock:
            self.connections += 1
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.lock:
                self.open_now -= 1
            self.closed.set()


class _CountingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingServer

    def do_GET(self) -> None:
        self.server.release.wait()
        body = b'{"regions": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = self.server.close_after_answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def plain() -> Iterator[CountingServer]:
    server = CountingServer()
    with serving(server):
        yield server


@pytest.fixture
def tls(tmp_path: Path) -> Iterator[tuple[CountingServer, Path]]:
    certificate, key = self_signed_localhost(tmp_path)
    server = CountingServer()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield server, certificate


def url(server: ThreadingHTTPServer, scheme: str = "http", host: str = "127.0.0.1") -> str:
    return f"{scheme}://{host}:{server.server_address[1]}"


def test_one_connection_serves_one_caller_after_another(plain: CountingServer) -> None:
    pool = Pool(url(plain), timeout=5, size=4)
    answers = [pool.request("GET", "/v1/regions", None, {}) for _ in range(5)]
    assert [a.status for a in answers] == [200] * 5 and answers[0].body == b'{"regions": []}'
    assert plain.connections == 1
    pool.close()
    assert pool.closed


def test_a_connection_the_server_ended_while_idle_is_not_used(plain: CountingServer) -> None:
    plain.close_after_answer = True
    pool = Pool(url(plain), timeout=5, size=4)
    for _ in range(3):
        plain.closed.clear()
        assert pool.request("GET", "/v1/regions", None, {}).status == 200
        plain.closed.wait(5)  # the server has closed its end: the pooled connection is dead
    assert plain.connections == 3
    pool.close()


def test_callers_beyond_the_size_wait_for_a_connection(plain: CountingServer) -> None:
    pool = Pool(url(plain), timeout=5, size=2)
    plain.release.clear()
    with ThreadPoolExecutor(max_workers=6) as callers:
        asked = [callers.submit(pool.request, "GET", "/v1/regions", None, {}) for _ in range(6)]
        threading.Timer(0.3, plain.release.set).start()
        assert [answer.result().status for answer in asked] == [200] * 6
    assert plain.most_open <= 2 and plain.connections <= 2
    pool.close()


def test_no_answer_within_the_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        pool = Pool(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3, size=1)
        with pytest.raises(NoAnswer) as no_answer:
            pool.request("GET", "/v1/regions", None, {})
        assert isinstance(no_answer.value.__cause__, TimeoutError)


def test_https_is_verified_against_the_certificate_store(
    tls: tuple[CountingServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, certificate = tls
    endpoint = url(server, "https", "localhost")
    with pytest.raises(ConnectFailed) as refused:
        Pool(endpoint, timeout=5, size=1).request("GET", "/v1/regions", None, {})
    assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
    # A certificate that cannot be trusted fails the same way every time: named at once, not retried.
    with Client(endpoint, "token", retries=3, backoff=0.01) as client, pytest.raises(Unreachable) as unreachable:
        client.regions()
    message = unreachable.value.message
    assert "certificate verify failed" in message and "1 attempt)" in message and "SSL_CERT_FILE" in message

    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    with Client(endpoint, "token") as client:
        assert client.regions() == [] and client.regions() == []
    assert server.connections == 1  # the refused handshakes never became connections; one served both reads


def test_an_endpoint_without_a_host_or_with_a_bad_port_is_named() -> None:
    with pytest.raises(ValueError, match="names no host"):
        Pool("http:///v1", timeout=1, size=1)
    with pytest.raises(ValueError, match="invalid port"):
        Pool("http://localhost:99999", timeout=1, size=1)
