"""The REST client against the real control plane (`dbaas-cp serve`, real PostgreSQL and pgBackRest).

Faults the real control plane cannot be made to show on demand are injected instead: a dead endpoint is a
real loopback port nobody listens on, and 5xx/429 answers and a lost answer (the request arrived, the
answer never came back) come from `FaultyServer`, a tiny local HTTP server started here that answers a
scripted list of statuses. It is used ONLY to check retries, the keys they carry and the reading of
non-JSON error bodies; everything else talks to the real control plane.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from controlplane.engine.ports import free_loopback_port
from provider.client import (
    ApiError,
    Cancelled,
    Client,
    Conflict,
    Failed,
    NotFound,
    Timeout,
    Unreachable,
    models,
    waiting,
)
from tests.controlplane.cp_process import ControlPlane, remove_tree, stop_leftover_servers, unprivileged_reachable_dir

PROJECT = "acme"


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    """The real control plane in a directory of its own; the servers it started are stopped afterwards."""
    data_dir = unprivileged_reachable_dir("dbaas-cp-client-")
    control_plane = ControlPlane(data_dir).start()
    try:
        yield control_plane
    finally:
        control_plane.stop()
        stop_leftover_servers(data_dir)
        remove_tree(data_dir)


@pytest.fixture(scope="module")
def client(plane: ControlPlane) -> Iterator[Client]:
    with Client(plane.url, plane.create_token(PROJECT), backoff=0.05) as api:
        yield api


def service_body(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "service_type": "pg", "cloud": "local-east", "plan": "hobbyist", **fields}


def wait_running(client: Client, name: str) -> models.Service:
    return client.wait(
        lambda: client.service(PROJECT, name),
        until={"RUNNING"},
        failed={"FAILED"},
        timeout=120,
        stop=None,
        what=f"service {PROJECT}/{name}",
    )


def wait_gone(client: Client, name: str) -> None:
    client.wait(
        lambda: client.service(PROJECT, name) or {"state": "GONE"},
        until={"GONE"},
        failed={"FAILED"},
        timeout=120,
        stop=None,
        what=f"deletion of service {PROJECT}/{name}",
    )


@pytest.fixture(scope="module")
def ledger(client: Client) -> Iterator[models.Service]:
    """A RUNNING service for the tests that only need one to exist."""
    client.create_service(PROJECT, service_body("ledger"))
    yield wait_running(client, "ledger")
    if client.delete_service(PROJECT, "ledger") is not None:
        wait_gone(client, "ledger")


# -- the real control plane ------------------------------------------------------------------------------


def test_regions(client: Client) -> None:
    names = {region["name"] for region in client.regions()}
    assert names == {"local-east", "local-west"}


def test_service_create_read_update_delete(client: Client) -> None:
    created = client.create_service(PROJECT, service_body("orders"))
    assert (created["name"], created["state"]) == ("orders", "REBUILDING")

    with pytest.raises(Conflict) as duplicate:
        client.create_service(PROJECT, service_body("orders"))
    assert (duplicate.value.status, duplicate.value.code, duplicate.value.field) == (409, "conflict", "name")
    assert "orders" in duplicate.value.message
    assert "import it with `terraform import dbaas_service.<name> acme/orders`" in duplicate.value.message

    running = wait_running(client, "orders")
    assert running["host"] == "127.0.0.1" and isinstance(running["port"], int)
    assert client.service(PROJECT, "orders") == running

    protected = client.update_service(PROJECT, "orders", {"termination_protection": True})
    assert protected["termination_protection"] is True and protected["state"] == "RUNNING"
    with pytest.raises(Conflict) as refused:
        client.delete_service(PROJECT, "orders")
    assert refused.value.field == "termination_protection"

    replanned = client.update_service(PROJECT, "orders", {"plan": "startup-4", "termination_protection": False})
    assert replanned["state"] == "REBUILDING"
    assert wait_running(client, "orders")["plan"] == "startup-4"

    deleting = client.delete_service(PROJECT, "orders")
    assert deleting is not None and deleting["state"] == "DELETING"
    wait_gone(client, "orders")
    assert client.service(PROJECT, "orders") is None
    assert client.delete_service(PROJECT, "orders") is None


def test_missing_objects_are_none(client: Client) -> None:
    assert client.service(PROJECT, "missing") is None
    assert client.service("another-project", "ledger") is None  # 404, never 403, for what the token may not see
    assert client.delete_service(PROJECT, "missing") is None
    assert client.backup(PROJECT, "missing", "20240101000000") is None
    assert client.delete_backup(PROJECT, "missing", "20240101000000") is None
    assert client.strategy(PROJECT, "missing") is None
    client.delete_strategy(PROJECT, "missing")
    with pytest.raises(NotFound) as not_found:
        client.update_service(PROJECT, "missing", {"plan": "hobbyist"})
    assert (not_found.value.status, not_found.value.code, not_found.value.field) == (404, "not_found", "service")


def test_names_are_escaped_into_one_path_segment(client: Client) -> None:
    for name in ("a/b", "..", ".", "x?y=z", "a b"):
        assert client.service(PROJECT, name) is None
    with pytest.raises(ValueError):
        client.service(PROJECT, "")


def test_invalid_fields_are_422_naming_the_field(client: Client) -> None:
    with pytest.raises(ApiError) as bad_name:
        client.create_service(PROJECT, service_body("Bad_Name"))
    assert (bad_name.value.status, bad_name.value.code, bad_name.value.field) == (422, "invalid", "name")
    with pytest.raises(ApiError) as bad_cloud:
        client.create_service(PROJECT, service_body("fine", cloud="mars"))
    assert (bad_cloud.value.status, bad_cloud.value.field) == (422, "cloud")
    assert "mars" in bad_cloud.value.message and "local-east" in bad_cloud.value.message
    assert not isinstance(bad_cloud.value, NotFound | Conflict)


def test_missing_or_invalid_token_says_what_to_do(plane: ControlPlane) -> None:
    for token, problem in ((None, "missing"), ("not-a-token", "invalid")):
        with Client(plane.url, token) as anonymous, pytest.raises(ApiError) as refused:
            anonymous.regions()
        assert (refused.value.status, refused.value.code) == (401, "unauthorized")
        assert problem in refused.value.message and "DBAAS_TOKEN" in refused.value.message


def test_strategies_of_project_and_service(client: Client, ledger: models.Service) -> None:
    assert client.strategy(PROJECT, None) is None
    put = client.put_strategy(PROJECT, None, {"container": "nightly", "retention": {"full_count": 3}})
    assert (put["project"], put["service"], put["container"]) == (PROJECT, None, "nightly")
    assert client.strategy(PROJECT, None) == put
    own = client.put_strategy(PROJECT, "ledger", {"container": "ledger-only", "schedule": "0 3 * * *"})
    assert (own["service"], own["schedule"]) == ("ledger", "0 3 * * *")
    with pytest.raises(ApiError) as bad_schedule:
        client.put_strategy(PROJECT, "ledger", {"container": "x", "schedule": "every day"})
    assert (bad_schedule.value.status, bad_schedule.value.field) == (422, "schedule")
    client.delete_strategy(PROJECT, "ledger")
    assert client.strategy(PROJECT, "ledger") is None
    client.delete_strategy(PROJECT, "ledger")  # already gone: no error


def test_backup_is_taken_listed_changed_and_refused_deletion(client: Client, ledger: models.Service) -> None:
    client.put_strategy(PROJECT, None, {"container": "nightly"})
    accepted = client.create_backup(PROJECT, "ledger", {"labels": {"team": "payments"}})
    assert accepted["state"] == "Pending" and len(accepted["name"]) == 14  # yyyyMMddHHmmss
    name = accepted["name"]
    done = client.wait(
        lambda: client.backup(PROJECT, "ledger", name),
        until={"Succeeded"},
        failed={"Failed"},
        timeout=120,
        stop=None,
        what=f"backup {PROJECT}/ledger/{name}",
    )
    assert (done["container"], done["type"], done["ready_to_use"]) == ("nightly", "full", True)

    assert [b["name"] for b in client.backups(PROJECT, "ledger", labels={"team": "payments"})] == [name]
    assert client.backups(PROJECT, "ledger", labels={"team": "other"}) == []
    assert [b["name"] for b in client.backups(PROJECT, "ledger", state="Succeeded")] == [name]
    assert client.backups(PROJECT, "ledger", state="Failed") == []

    changed = client.update_backup(PROJECT, "ledger", name, {"description": "before the migration"})
    assert changed["description"] == "before the migration" and changed["labels"] == {"team": "payments"}
    with pytest.raises(Conflict) as duplicate:
        client.put_backup(PROJECT, "ledger", name, {})
    assert duplicate.value.field == "name"
    # Even the only full backup of its container: the control plane expires its data when it can.
    deleted = client.delete_backup(PROJECT, "ledger", name)
    assert deleted is not None and deleted["state_message"] == "deleting"
    client.delete_strategy(PROJECT, None)


def test_one_client_serves_parallel_callers(client: Client, ledger: models.Service) -> None:
    def read(index: int) -> tuple[str, int]:
        found = client.service(PROJECT, "ledger") if index % 2 else {"name": "ledger"}
        return str((found or {})["name"]), len(client.regions())

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(read, range(40)))
    assert results == [("ledger", 2)] * 40


# -- wait() ------------------------------------------------------------------------------------------------


def test_wait_times_out_naming_what_and_the_last_state(
    client: Client, ledger: models.Service, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiting, "PROGRESS_EVERY", 0.3)
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger=waiting.__name__), pytest.raises(Timeout) as timed_out:
        client.wait(
            lambda: client.service(PROJECT, "ledger"),
            until={"POWEROFF"},
            failed={"FAILED"},
            timeout=1.2,
            stop=None,
            what="service acme/ledger",
        )
    assert 1.2 <= time.monotonic() - started < 4
    assert "service acme/ledger" in str(timed_out.value) and "RUNNING" in str(timed_out.value)
    assert timed_out.value.last is not None and timed_out.value.last["state"] == "RUNNING"
    progress = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert progress and progress[0].startswith("waiting for service acme/ledger: RUNNING (")


def test_wait_is_cancelled_by_the_stop_event(client: Client, ledger: models.Service) -> None:
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled) as cancelled:
        client.wait(
            lambda: client.service(PROJECT, "ledger"),
            until={"POWEROFF"},
            failed={"FAILED"},
            timeout=60,
            stop=stop,
            what="service acme/ledger",
        )
    assert time.monotonic() - started < 3
    assert "service acme/ledger" in str(cancelled.value)


def test_wait_fails_on_a_failed_state_and_when_the_object_disappears(client: Client, ledger: models.Service) -> None:
    with pytest.raises(Failed) as failed:  # RUNNING declared a failure only to see how one is reported
        client.wait(
            lambda: client.service(PROJECT, "ledger"),
            until={"POWEROFF"},
            failed={"RUNNING"},
            timeout=10,
            stop=None,
            what="service acme/ledger",
        )
    assert "service acme/ledger is RUNNING" in failed.value.message and failed.value.obj["name"] == "ledger"
    with pytest.raises(NotFound) as gone:
        client.wait(
            lambda: client.service(PROJECT, "never-created"),
            until={"RUNNING"},
            failed={"FAILED"},
            timeout=10,
            stop=None,
            what="service acme/never-created",
        )
    assert "service acme/never-created" in gone.value.message


def test_short_waits_are_fast(client: Client) -> None:
    """The first polls come 0.2 s apart: a state reached quickly is seen quickly."""
    seen = iter([{"state": "A"}, {"state": "A"}, {"state": "B"}])
    started = time.monotonic()
    client.wait(lambda: next(seen), until={"B"}, failed=(), timeout=10, stop=None, what="thing")
    assert time.monotonic() - started < 1


# -- faults: a dead endpoint, and 5xx answers from a scripted server -------------------------------------------


def test_dead_endpoint_is_retried_then_named(caplog: pytest.LogCaptureFixture) -> None:
    endpoint = f"http://127.0.0.1:{free_loopback_port()}"  # nobody listens: connection refused
    with Client(endpoint, "token", retries=2, backoff=0.01) as dead, caplog.at_level(logging.WARNING):
        for call in (dead.regions, lambda: dead.create_service(PROJECT, service_body("x"))):
            caplog.clear()
            with pytest.raises(Unreachable) as unreachable:
                call()
            assert endpoint in unreachable.value.message and "3 attempts" in unreachable.value.message
            assert "DBAAS_ENDPOINT" in unreachable.value.message
            # A refused connection sent nothing: a POST is retried as safely as a GET.
            assert len([r for r in caplog.records if "Connection refused" in r.getMessage()]) == 2


LOST = (0, b"")  # scripted: the request is read, then the connection closes with no answer


class FaultyServer(ThreadingHTTPServer):
    """Answers each request with the next scripted (status, body), then 200 with empty lists of regions and backups."""

    def __init__(self, script: list[tuple[int, bytes]]) -> None:
        super().__init__(("127.0.0.1", 0), _FaultyHandler)
        self.script = script
        self.requests: list[tuple[str, str]] = []
        self.keys: list[str | None] = []  # the Idempotency-Key of each request
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _FaultyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FaultyServer

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path))
        self.server.keys.append(self.headers.get("Idempotency-Key"))
        status, body = self.server.script.pop(0) if self.server.script else (200, b'{"regions": [], "backups": []}')
        if (status, body) == LOST:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


def error(code: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()


UNAVAILABLE = (503, error("unavailable", "starting up"))


@pytest.fixture
def faulty() -> Iterator[FaultyServer]:
    server = FaultyServer([])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_idempotent_requests_are_retried_after_5xx(faulty: FaultyServer, method: str) -> None:
    faulty.script[:] = [UNAVAILABLE, (500, b"")]
    with Client(faulty.url, "token", backoff=0.01) as api:
        api.request(method, "/v1/regions", body=None if method in ("GET", "DELETE") else {"plan": "hobbyist"})
    assert faulty.requests == [(method, "/v1/regions")] * 3


def test_429_is_retried_and_retry_after_honoured(faulty: FaultyServer) -> None:
    faulty.script[:] = [(429, error("too_many_requests", "slow down"))]
    started = time.monotonic()
    with Client(faulty.url, "token", backoff=0.01) as api:
        assert api.regions() == []
    assert len(faulty.requests) == 2 and time.monotonic() - started < 1


CREATED = (201, json.dumps({"name": "orders", "state": "REBUILDING"}).encode())


@pytest.mark.parametrize("fault", [LOST, UNAVAILABLE], ids=["lost answer", "503"])
def test_a_create_is_retried_with_the_key_of_its_first_attempt(faulty: FaultyServer, fault: tuple[int, bytes]) -> None:
    """The first attempt may have created the service: the retry's key, the same, makes the control plane
    answer with that service rather than make another or refuse the name (409)."""
    faulty.script[:] = [fault, CREATED]
    with Client(faulty.url, "token", backoff=0.01) as api:
        assert api.create_service(PROJECT, service_body("orders")) == json.loads(CREATED[1])
        api.create_service(PROJECT, service_body("orders"))  # another create: another key
    assert faulty.requests == [("POST", "/v1/projects/acme/services")] * 3
    first, retry, other = faulty.keys
    assert first is not None and retry == first and other not in (None, first)


def test_a_lost_answer_to_a_backup_put_is_retried_with_its_key(faulty: FaultyServer) -> None:
    faulty.script[:] = [LOST, (202, json.dumps({"name": "nightly", "state": "Pending"}).encode())]
    with Client(faulty.url, "token", backoff=0.01) as api:
        assert api.put_backup(PROJECT, "orders", "nightly", {"description": ""})["name"] == "nightly"
    assert len(faulty.keys) == 2 and faulty.keys[0] is not None and faulty.keys[1] == faulty.keys[0]


def test_reads_and_changes_carry_no_key(faulty: FaultyServer) -> None:
    with Client(faulty.url, "token") as api:
        api.regions()
        api.patch("/v1/regions", {"plan": "hobbyist"})
    assert faulty.keys == [None, None]


def test_retries_give_up_with_the_last_answer(faulty: FaultyServer) -> None:
    faulty.script[:] = [UNAVAILABLE] * 5
    with Client(faulty.url, "token", retries=2, backoff=0.01) as api, pytest.raises(ApiError) as unavailable:
        api.regions()
    assert unavailable.value.status == 503 and "after 3 attempts" in unavailable.value.message
    assert len(faulty.requests) == 3


def test_4xx_is_final_and_non_json_errors_are_readable(faulty: FaultyServer) -> None:
    faulty.script[:] = [(400, b"<html><body>\n  <h1>Bad Request</h1>\n</body></html>"), (502, b"")]
    with Client(faulty.url, "token", retries=0) as api:
        with pytest.raises(ApiError) as bad:
            api.regions()
        assert (bad.value.status, bad.value.code) == (400, "error")
        assert bad.value.message == "HTTP 400 Bad Request: <html><body> <h1>Bad Request</h1> </body></html>"
        with pytest.raises(ApiError) as gateway:
            api.regions()
        assert (gateway.value.status, gateway.value.code, gateway.value.message) == (
            502,
            "internal",
            "HTTP 502 Bad Gateway",
        )
    assert len(faulty.requests) == 2


def test_paths_and_queries_are_escaped(faulty: FaultyServer) -> None:
    with Client(faulty.url, "token") as api:
        api.get(f"/v1/projects/{PROJECT}/services/x")  # the scripted server's 200 body fits any GET
        api.backups(PROJECT, "a/b", state="Succeeded", labels={"team": "a&b", "env": "prod"})
        api.delete_backup(PROJECT, "..", "n")
    assert [path for _, path in faulty.requests[1:]] == [
        "/v1/projects/acme/services/a%2Fb/backups?state=Succeeded&label=env%3Dprod&label=team%3Da%26b&page_size=1000",
        "/v1/projects/acme/services/%2E%2E/backups/n",
    ]
