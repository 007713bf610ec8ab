"""A plan's refresh of many dbaas_backup costs one backup list per service, and still finds a backup deleted
behind Terraform's back: real Terraform, real control plane, real HTTP counted on its way there.

The count comes from `CountingProxy`, a plain HTTP relay in front of the control plane that records the
method and path of every request the provider sends and passes it on unchanged.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import httpx
import pytest

from tests.controlplane.cp_process import ControlPlane, wait_for_gone
from tests.e2e.test_dbaas_service import dbaas, write
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here

SERVICES = ("ledger", "audit")
BACKUPS_PER_SERVICE = 3
RELAYED_HEADERS = ("authorization", "content-type", "idempotency-key", "if-none-match", "accept", "user-agent")


class CountingProxy(ThreadingHTTPServer):
    """Relays every request to `upstream` and counts them by (method, path)."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.upstream = httpx.Client(base_url=upstream, timeout=60)
        self.seen: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, method: str, pattern: str) -> int:
        with self.lock:
            return sum(n for (m, path), n in self.seen.items() if m == method and re.fullmatch(pattern, path))


class _Relay(BaseHTTPRequestHandler):
    server: CountingProxy
    protocol_version = "HTTP/1.1"

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with self.server.lock:
            self.server.seen[(self.command, urlsplit(self.path).path)] += 1
        headers = {key: value for key, value in self.headers.items() if key.lower() in RELAYED_HEADERS}
        answer = self.server.upstream.request(self.command, self.path, content=body, headers=headers)
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() in ("content-type", "retry-after"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def proxy(control_plane: ControlPlane) -> Iterator[CountingProxy]:
    server = CountingProxy(control_plane.url)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.upstream.close()


def configuration() -> str:
    body = ""
    for service in SERVICES:
        body += f"""
resource "dbaas_service" "{service}" {{
  name         = "{service}"
  service_type = "pg"
  cloud        = "local-east"
  plan         = "hobbyist"
}}
resource "dbaas_backup" "{service}" {{
  count   = {BACKUPS_PER_SERVICE}
  service = dbaas_service.{service}.name
  name    = "b${{count.index}}"
}}
"""
    return body


def test_plan_lists_each_service_once_and_sees_deletions(
    proxy: CountingProxy, dbaas: Workspace, control_plane: ControlPlane, acme: httpx.Client
) -> None:
    dbaas.env["DBAAS_ENDPOINT"] = proxy.url
    write(dbaas, configuration())
    dbaas.apply()

    proxy.seen.clear()
    assert dbaas.plan_exit_code().returncode == 0, "plan after apply must be empty"
    for service in SERVICES:
        lists = proxy.count("GET", f"/v1/projects/acme/services/{service}/backups")
        assert lists == 1, f"the refresh of {BACKUPS_PER_SERVICE} backups of {service} listed them {lists} times"
    assert proxy.count("GET", r"/v1/projects/acme/services/[^/]+/backups/[^/]+") == 0, "no backup read one by one"

    # Deleted behind Terraform's back: the next plan creates it again.
    path = "/v1/projects/acme/services/audit/backups/b1"
    assert acme.delete(path).status_code == 202
    wait_for_gone(acme, path)
    plan = dbaas.plan_exit_code()
    assert plan.returncode == 2, plan.stdout
    assert re.search(r"dbaas_backup\.audit\[1\] will be created", plan.stdout), plan.stdout
    assert "1 to add, 0 to change, 0 to destroy" in plan.stdout
