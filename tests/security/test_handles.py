"""Backup handles as a hostile tenant uses them: real control plane, real PostgreSQL and pgBackRest, real HTTP.

Project acme has one service with a secret row and a backup of it; project beta, with its own token,
tries to import acme's handle. A handle of another project must answer exactly like one that does not
exist, create nothing (no row, no directory) and list nothing of what the repository holds.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.controlplane.cp_process import ControlPlane, wait_for_gone, wait_for_state
from tests.controlplane.test_backups import backup, sql
from tests.controlplane.test_replication import wait_for_replica

ACME = "/v1/projects/acme"
BETA = "/v1/projects/beta"
SOURCE = f"{ACME}/services/source"
FIELD = "import_source.backup_handle"
MADE_UP_LABEL = "20000101-000000F"


@pytest.fixture(scope="module")
def beta(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client(control_plane.create_token("beta")) as client:
        yield client


@pytest.fixture(scope="module")
def admin(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client(control_plane.admin_token) as client:
        yield client


@pytest.fixture(scope="module")
def taken(acme: httpx.Client) -> dict[str, Any]:
    """acme's backup (and its copy in local-west) of a service holding a row beta must never read."""
    body = {
        "name": "source",
        "service_type": "pg",
        "cloud": "local-east",
        "plan": "hobbyist",
        "user_config": {"additional_backup_regions": ["local-west"]},
    }
    assert acme.post(f"{ACME}/services", json=body).status_code == 201
    service = wait_for_state(acme, SOURCE, {"RUNNING"})
    sql(service, "CREATE TABLE secrets (body text)")
    sql(service, "INSERT INTO secrets VALUES ('acme only')")
    taken = backup(acme, f"{SOURCE}/backups", name="s1")
    # Copied before the attacks start: the copy's directories appear meanwhile.
    wait_for_replica(acme, "source", "s1", "local-west", "Succeeded")
    return taken


def with_label(handle: str, label: str) -> str:
    return f"{handle.rsplit('/', 1)[0]}/{label}"


def in_the_copy(handle: str) -> str:
    """The handle of the same backup in its copy in local-west (stores are `<data dir>/regions/<name>/objects`)."""
    return handle.replace("/regions/local-east/objects/", "/regions/local-west/objects/", 1)


def with_stanza(handle: str, stanza: str) -> str:
    repository, _, rest = handle.partition("#")
    return f"{repository}#{stanza}/{rest.split('/', 1)[1]}"


def import_handle(client: httpx.Client, path: str, handle: str) -> httpx.Response:
    return client.put(path, json={"import_source": {"backup_handle": handle}})


def refusal(response: httpx.Response, handle: str) -> dict[str, Any]:
    """The error of a refused import, the handle in its message replaced by a placeholder."""
    assert response.status_code == 404, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "not_found" and error["field"] == FIELD
    return {**error, "message": error["message"].replace(handle, "<handle>")}


def directories(root: Path) -> set[str]:
    return {directory for directory, _, _ in os.walk(root)}


def probe_leftovers() -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob("dbaas-handle-probe-*"))


def test_another_projects_handle_answers_like_one_that_does_not_exist(
    control_plane: ControlPlane, beta: httpx.Client, taken: dict[str, Any]
) -> None:
    handle = taken["backup_handle"]
    made_up = with_stanza(handle, "beta-ghost-1")
    before = directories(control_plane.data_dir)
    stolen = import_handle(beta, f"{BETA}/services/x/backups/s1", handle)
    ghost = import_handle(beta, f"{BETA}/services/x/backups/s2", made_up)
    assert refusal(stolen, handle) == refusal(ghost, made_up)
    assert beta.get(f"{BETA}/services/x/backups/s1").status_code == 404
    assert beta.get(f"{BETA}/services/x/backups").json()["backups"] == []
    assert directories(control_plane.data_dir) == before and probe_leftovers() == []


def test_a_wrong_label_in_another_projects_stanza_lists_nothing(
    control_plane: ControlPlane, beta: httpx.Client, taken: dict[str, Any]
) -> None:
    label = taken["backup_handle"].rsplit("/", 1)[1]
    probe = with_label(taken["backup_handle"], MADE_UP_LABEL)
    before = directories(control_plane.data_dir)
    response = import_handle(beta, f"{BETA}/services/x/backups/probe", probe)
    refusal(response, probe)
    assert label not in response.text
    assert directories(control_plane.data_dir) == before and probe_leftovers() == []


def test_a_wrong_label_in_the_owners_stanza_lists_nothing_and_leaves_nothing(
    control_plane: ControlPlane, acme: httpx.Client, taken: dict[str, Any]
) -> None:
    """The owner's probe runs pgBackRest: its configuration must not stay behind."""
    label = taken["backup_handle"].rsplit("/", 1)[1]
    probe = with_label(taken["backup_handle"], MADE_UP_LABEL)
    before = directories(control_plane.data_dir)
    response = import_handle(acme, f"{ACME}/services/elsewhere/backups/probe", probe)
    refusal(response, probe)
    assert label not in response.text
    assert directories(control_plane.data_dir) == before and probe_leftovers() == []


def test_what_is_planted_in_a_store_is_not_followed(
    control_plane: ControlPlane, admin: httpx.Client, taken: dict[str, Any]
) -> None:
    """Even the admin, who may import anything, is refused a symlinked container, a FIFO as info file and NUL bytes."""
    handle = taken["backup_handle"]
    repository = Path(handle.removeprefix("pgbackrest:").partition("#")[0])
    alias = repository.with_name("alias")
    alias.symlink_to(repository)
    planted = repository / "backup" / "planted-fifo-1"
    planted.mkdir()
    os.mkfifo(planted / "backup.info")
    try:
        through_link = handle.replace(str(repository), str(alias))
        refusal(import_handle(admin, f"{BETA}/services/x/backups/linked", through_link), through_link)
        fifo = with_stanza(handle, "planted-fifo-1")
        refusal(import_handle(admin, f"{BETA}/services/x/backups/fifo", fifo), fifo)
        for nul in (with_stanza(handle, "nul\x00stanza"), handle.replace(str(repository), f"{repository}\x00")):
            refusal(import_handle(admin, f"{BETA}/services/x/backups/nul", nul), nul)
    finally:
        alias.unlink()
        (planted / "backup.info").unlink()
        planted.rmdir()
    assert probe_leftovers() == []


def test_the_admin_imports_any_projects_handle(admin: httpx.Client, beta: httpx.Client, taken: dict[str, Any]) -> None:
    response = import_handle(admin, f"{BETA}/services/x/backups/granted", taken["backup_handle"])
    assert response.status_code == 202, response.text
    assert beta.get(f"{BETA}/services/x/backups/granted").json()["state"] == "Succeeded"


def test_the_owner_imports_its_own_handle_and_its_copy_also_once_its_service_is_gone(
    acme: httpx.Client, beta: httpx.Client, taken: dict[str, Any]
) -> None:
    handle = taken["backup_handle"]
    again = import_handle(acme, f"{SOURCE}/backups/s1-again", handle)
    assert again.status_code == 202 and again.json()["state"] == "Succeeded", again.text
    copy = in_the_copy(handle)
    assert copy != handle
    from_copy = import_handle(acme, f"{SOURCE}/backups/s1-from-copy", copy)
    assert from_copy.status_code == 202 and from_copy.json()["region"] == "local-west", from_copy.text
    refusal(import_handle(beta, f"{BETA}/services/x/backups/copy", copy), copy)
    assert acme.delete(SOURCE).status_code == 202
    wait_for_gone(acme, SOURCE)
    adopted = import_handle(acme, f"{ACME}/services/heir/backups/adopted", handle)
    assert adopted.status_code == 202 and adopted.json()["state"] == "Succeeded", adopted.text
