"""Fuzz the REST API from its own OpenAPI document: whatever comes in, never a 5xx.

Services created by the fuzzer start real PostgreSQL servers; the fixture stops them all.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.controlplane.cp_process import (
    ControlPlane,
    wait_for_state,
)


@pytest.fixture(scope="module")
def token(control_plane: ControlPlane) -> str:
    return control_plane.create_token("fuzz")


def test_no_server_errors(control_plane: ControlPlane, token: str) -> None:
    # The operations are walked here rather than with schemathesis' pytest plugin, which does not
    # work with pytest 9. A real service exists, so that fuzzed PATCH and GET bodies reach it.
    with control_plane.client(token) as client:
        client.post(
            "/v1/projects/fuzz/services",
            json={
                "name": "fuzzed",
                "service_type": "pg",
                "cloud": "local-east",
                "plan": "hobbyist",
                "termination_protection": True,
            },
        ).raise_for_status()
        wait_for_state(client, "/v1/projects/fuzz/services/fuzzed", {"RUNNING"})
    schema = schemathesis.openapi.from_url(f"{control_plane.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            if case.path_parameters and "project" in case.path_parameters:
                case.path_parameters["project"] = "fuzz"  # our own project: requests get past the 404
            if case.path_parameters and "service" in case.path_parameters:
                case.path_parameters["service"] = "fuzzed"
            response = case.call(base_url=control_plane.url, headers={"Authorization": f"Bearer {token}"})
            case.validate_response(response, checks=[not_a_server_error])

        call()
