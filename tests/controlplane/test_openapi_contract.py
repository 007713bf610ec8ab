"""The OpenAPI document against the real API: every answer a real request gets is documented for its
operation, and its body matches the documented schema; every documented status of every operation is
produced here at least once.

Statuses every operation shares (401, 404, 413, 422) are produced for each operation read from the document
itself; successes and conflicts by a scenario on a real service with real backups. Bodies are checked with
jsonschema-rs (a dependency of schemathesis), `$ref`s resolved against the document's components.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jsonschema_rs
import pytest

from controlplane.api.body_limit import MAX_BODY_BYTES
from tests.controlplane.cp_process import ControlPlane, wait_for_state

PROJECT = "/v1/projects/acme"
SERVICE = f"{PROJECT}/services/orders"
BACKUPS = f"{SERVICE}/backups"
NEW_SERVICE = {"name": "orders", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
# Values for the path parameters of the operations walked generically; the objects exist once the
# scenario has run.
PATH_VALUES = {"project": "acme", "service": "orders", "name": "first"}


@dataclass
class Contract:
    """The document, and the (operationId, status) pairs real answers have shown so far."""

    document: dict[str, Any]
    seen: set[tuple[str, int]] = field(default_factory=set)

    def operations(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for template, operations in self.document["paths"].items():
            for method, operation in operations.items():
                yield method.upper(), template, operation

    def operation(self, method: str, path: str) -> dict[str, Any]:
        """The documented operation that answers `method path`."""
        found = [
            operation
            for documented, template, operation in self.operations()
            if documented == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path)
        ]
        assert len(found) == 1, f"{method} {path} matches {len(found)} documented operations"
        return found[0]

    def check(self, response: httpx.Response, expect: int) -> httpx.Response:
        """Assert the status is `expect`, documented for the operation, and the body matches its schema."""
        assert response.status_code == expect, f"{response.request.method} {response.request.url}: {response.text}"
        operation = self.operation(response.request.method, response.request.url.path)
        documented = operation["responses"].get(str(expect))
        assert documented is not None, f"{operation['operationId']} does not document {expect}"
        content = documented.get("content")
        if content is None:
            assert response.content == b"", f"{operation['operationId']} {expect} documents no body"
        else:
            assert response.headers["content-type"] == "application/json"
            schema = {**content["application/json"]["schema"], "components": self.document["components"]}
            jsonschema_rs.Draft202012Validator(schema, validate_formats=True).validate(response.json())
        self.seen.add((operation["operationId"], expect))
        return response


@pytest.fixture(scope="module")
def contract(control_plane: ControlPlane) -> Contract:
    return Contract(httpx.get(f"{control_plane.url}/openapi.json").raise_for_status().json())


@pytest.fixture(scope="module")
def globex(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client(control_plane.create_token("globex")) as client:
        yield client


def test_the_document_describes_every_property_and_error(contract: Contract) -> None:
    schemas = contract.document["components"]["schemas"]
    undescribed = [
        f"{name}.{prop}"
        for name, schema in schemas.items()
        for prop, sub in schema.get("properties", {}).items()
        if not sub.get("description") or not sub.get("examples")
    ]
    assert undescribed == [], "properties without a description or an example"
    assert "HTTPValidationError" not in schemas  # FastAPI's 422 body, which the API never sends
    ids = [operation["operationId"] for _, _, operation in contract.operations()]
    assert len(ids) == len(set(ids)), "operationIds must be unique"
    # The route functions' names, not FastAPI's default built from the path.
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", operation_id) for operation_id in ids), ids
    assert {"create_service", "get_backup", "put_service_strategy", "list_regions"} <= set(ids)
    for method, template, operation in contract.operations():
        statuses = set(operation["responses"])
        expected = {"401", "413"}  # every operation needs a token; any request may declare a large body
        if operation.get("parameters") or "requestBody" in operation:
            expected.add("422")
        if template.startswith("/v1/projects/{project}"):
            expected.add("404")
        assert expected <= statuses, f"{method} {template} lacks {sorted(expected - statuses)}"
        for status in statuses - {"200", "201", "202", "204"}:
            schema = operation["responses"][status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, f"{method} {template} {status}"


def test_real_answers_match_the_document(
    control_plane: ControlPlane, contract: Contract, acme: httpx.Client, globex: httpx.Client
) -> None:
    check = contract.check
    check(acme.get("/v1/regions"), 200)

    # A service: created, refused twice over, refused a new plan while it is being made.
    check(acme.post(f"{PROJECT}/services", json=NEW_SERVICE), 201)
    check(acme.patch(SERVICE, json={"plan": "startup-4"}), 409)  # its create job still runs
    check(acme.post(f"{PROJECT}/services", json=NEW_SERVICE), 409)
    check(acme.post(f"{PROJECT}/services", json={**NEW_SERVICE, "name": "second", "plan": "galactic-64"}), 422)
    wait_for_state(acme, SERVICE, {"RUNNING"})
    check(acme.get(f"{PROJECT}/services"), 200)
    check(acme.get(SERVICE), 200)
    check(acme.patch(SERVICE, json={"termination_protection": True}), 200)
    check(acme.delete(SERVICE), 409)
    check(acme.patch(SERVICE, json={"termination_protection": False}), 200)

    # Backups: the second waits behind the first, so it cannot be verified or restore-tested yet.
    check(acme.post(BACKUPS, json={"name": "first"}), 202)
    check(acme.post(BACKUPS, json={"name": "first"}), 409)
    check(acme.put(f"{BACKUPS}/second", json={}), 202)
    check(acme.put(f"{BACKUPS}/second", json={}), 409)
    check(acme.post(f"{BACKUPS}/second/verify"), 409)
    check(acme.post(f"{BACKUPS}/second/restore_test"), 409)
    check(acme.get(BACKUPS, params={"page_token": "not-a-token"}), 422)
    wait_for_state(acme, f"{BACKUPS}/first", {"Succeeded"}, timeout=180)
    check(acme.get(BACKUPS), 200)
    check(acme.get(f"{BACKUPS}/first"), 200)
    check(acme.patch(f"{BACKUPS}/first", json={"labels": {"team": "payments"}}), 200)
    check(acme.post(f"{BACKUPS}/first/verify"), 202)
    check(acme.post(f"{BACKUPS}/first/restore_test"), 202)
    check(acme.get(f"{BACKUPS}/missing"), 404)

    # Strategies of the project and of the service: made, refused as create-only, read, deleted.
    strategy = {"container": "nightly", "schedule": "0 3 * * *", "retention": {"full_count": 7}}
    for path in (f"{PROJECT}/backup_strategy", f"{SERVICE}/backup_strategy"):
        check(acme.put(path, json=strategy), 200)
        check(acme.put(path, json=strategy, headers={"If-None-Match": "*"}), 409)
        check(acme.get(path), 200)
        check(acme.delete(path), 204)
        check(acme.get(path), 404)

    check(acme.post(f"{SERVICE}/backup_to_another_region/report", json={"period": "day"}), 200)

    # What every operation shares: no token, another project's token, a body over 1 MiB, a malformed project.
    with control_plane.client(None) as anonymous:
        for method, template, operation in list(contract.operations()):
            path = template.format(**PATH_VALUES)
            check(anonymous.request(method, path), 401)
            check(acme.request(method, path, content=b" " * (MAX_BODY_BYTES + 1)), 413)
            if "404" in operation["responses"]:
                check(globex.request(method, path, json={}), 404)
            if "422" in operation["responses"]:
                check(acme.request(method, template.format(**{**PATH_VALUES, "project": "Not_A_Name"})), 422)

    check(acme.delete(f"{BACKUPS}/second"), 202)
    check(acme.delete(SERVICE), 202)

    documented = {
        (operation["operationId"], int(status))
        for _, _, operation in contract.operations()
        for status in operation["responses"]
    }
    assert sorted(documented - contract.seen) == [], "documented statuses no real answer showed"
