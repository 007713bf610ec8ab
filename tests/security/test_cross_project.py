"""A token of one project reaches nothing of another, through any route the API describes.

Generated from the control plane's own OpenAPI document: every operation under /v1/projects/{project} is
called with project acme's token on project beta's real objects (its service, its backup), with a body the
route accepts, and must answer 404 — the same as for what does not exist — and change nothing of beta's.
A route added later is covered by the same loop; if it needs a body this table lacks, the test says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.controlplane.cp_process import ControlPlane, wait_for_state
from tests.controlplane.test_backups import backup

BETA = "/v1/projects/beta"
# A body each operation accepts (validation passes), so that only the project check can answer.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/projects/{project}/services"): {
        "name": "intruder",
        "service_type": "pg",
        "cloud": "local-east",
        "plan": "hobbyist",
    },
    ("patch", "/v1/projects/{project}/services/{service}"): {"plan": "startup-4"},
    ("put", "/v1/projects/{project}/backup_strategy"): {"container": "stolen"},
    ("put", "/v1/projects/{project}/services/{service}/backup_strategy"): {"container": "stolen"},
    ("post", "/v1/projects/{project}/services/{service}/backup_to_another_region/report"): {"period": "hour"},
    ("patch", "/v1/projects/{project}/services/{service}/backups/{name}"): {"labels": {"owned": "yes"}},
}


@pytest.fixture(scope="module")
def beta(control_plane: ControlPlane) -> Iterator[dict[str, Any]]:
    """Beta's service with a backup and a strategy; what acme's token must never reach."""
    with control_plane.client(control_plane.create_token("beta")) as client:
        body = {"name": "victim", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
        assert client.post(f"{BETA}/services", json=body).status_code == 201
        service = wait_for_state(client, f"{BETA}/services/victim", {"RUNNING"})
        taken = backup(client, f"{BETA}/services/victim/backups", name="secret")
        assert client.put(f"{BETA}/backup_strategy", json={"container": "beta-box"}).status_code == 200
        yield {"client": client, "service": service, "backup": taken}


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in document["paths"].items()
        if path.startswith("/v1/projects/{project}")
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_route_of_another_project_answers_404_and_changes_nothing(
    control_plane: ControlPlane, beta: dict[str, Any]
) -> None:
    with control_plane.client(control_plane.create_token("acme")) as acme:
        document = acme.get("/openapi.json").json()
        found = operations(document)
        assert len(found) >= 15, "the OpenAPI document lists the project routes"
        answers = {}
        for method, template in found:
            path = template.format(project="beta", service="victim", name="secret")
            body = BODIES.get((method, template), {}) if method in ("post", "put", "patch") else None
            response = acme.request(method.upper(), path, json=body)
            answers[f"{method.upper()} {template}"] = (response.status_code, response.text[:200])
        wrong = {operation: answer for operation, answer in answers.items() if answer[0] != 404}
        assert wrong == {}, "acme's token reached beta (or a body is missing from BODIES)"
    client: httpx.Client = beta["client"]
    service = client.get(f"{BETA}/services/victim").json()
    assert (service["state"], service["plan"]) == ("RUNNING", "hobbyist")
    kept = client.get(f"{BETA}/services/victim/backups/secret").json()
    assert kept["state"] == "Succeeded" and kept["labels"] == {}
    assert client.get(f"{BETA}/backup_strategy").json()["container"] == "beta-box"
    assert [s["name"] for s in client.get(f"{BETA}/services").json()["services"]] == ["victim"]
