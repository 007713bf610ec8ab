"""A shared catalog that goes down: the API answers 503 with Retry-After (which the provider's client waits out
and retries) instead of a 500, and serves again, with nothing lost, once the catalog is back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.controlplane.cp_process import ControlPlane, remove_tree, stop_leftover_servers, unprivileged_reachable_dir
from tests.postgres_servers import PostgresFactory, PostgresServer
from tests.scaleout.conftest import write_config

PROJECT = "acme"


@pytest.fixture
def catalog_server(postgres_factory: PostgresFactory) -> Iterator[PostgresServer]:
    """A server of its own: the test stops it."""
    server = postgres_factory("catalog-down")
    yield server
    server.driver.remove()


def test_the_api_answers_503_while_the_catalog_is_down_and_serves_again(catalog_server: PostgresServer) -> None:
    root = unprivileged_reachable_dir("dbaas-catalog-down-")
    config = write_config(root, catalog_server.url, {})
    plane = ControlPlane(root / "cp", config)
    plane.data_dir.mkdir()
    try:
        plane.start()
        with plane.client(plane.create_token(PROJECT)) as api:
            services = f"/v1/projects/{PROJECT}/services"
            assert api.get(services).status_code == 200

            catalog_server.driver.stop(mode="fast")
            down = api.get(services)
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"].isdigit()
            assert down.json()["error"]["code"] == "unavailable"

            catalog_server.driver.start()
            assert api.get(services).status_code == 200
    finally:
        plane.stop()
        stop_leftover_servers(plane.data_dir, config)
        remove_tree(root)
