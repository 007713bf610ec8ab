"""Services on real PostgreSQL through the real control plane over real HTTP."""

from __future__ import annotations

import httpx
import psycopg

from tests.controlplane.cp_process import (
    ControlPlane,
    stop_leftover_servers,
    wait_for_gone,
    wait_for_state,
)

SERVICES = "/v1/projects/acme/services"


def create(client: httpx.Client, name: str, **fields: object) -> dict[str, object]:
    body = {"name": name, "service_type": "pg", "cloud": "local-east", "plan": "hobbyist", **fields}
    response = client.post(SERVICES, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    assert created["state"] == "REBUILDING"
    return wait_for_state(client, f"{SERVICES}/{name}", {"RUNNING"})


def write_rows(uri: str, rows: list[str]) -> None:
    with psycopg.connect(uri) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS notes (body text)")
        for row in rows:
            connection.execute("INSERT INTO notes VALUES (%s)", (row,))


def read_rows(uri: str) -> list[str]:
    with psycopg.connect(uri) as connection:
        return [row[0] for row in connection.execute("SELECT body FROM notes ORDER BY body")]


def test_service_runs_with_checksums_and_its_uri_connects(acme: httpx.Client) -> None:
    service = create(acme, "orders")
    assert service["host"] == "127.0.0.1" and isinstance(service["port"], int)
    uri = str(service["uri"])
    write_rows(uri, ["a", "b"])
    assert read_rows(uri) == ["a", "b"]
    with psycopg.connect(uri) as connection:
        assert connection.execute("SHOW data_checksums").fetchone() == ("on",)
        assert connection.execute("SHOW server_version_num").fetchone()[0].startswith("15")  # type: ignore[index]


def test_rows_survive_a_control_plane_restart_and_kill_9(control_plane: ControlPlane, acme: httpx.Client) -> None:
    service = create(acme, "ledger")
    write_rows(str(service["uri"]), ["before restart"])
    control_plane.stop()
    control_plane.start()
    assert read_rows(str(service["uri"])) == ["before restart"]
    control_plane.kill()
    control_plane.start()
    again = wait_for_state(acme, f"{SERVICES}/ledger", {"RUNNING"})
    assert read_rows(str(again["uri"])) == ["before restart"]


def test_service_down_after_restart_is_started_again(control_plane: ControlPlane, acme: httpx.Client) -> None:
    service = create(acme, "restarted")
    write_rows(str(service["uri"]), ["kept"])
    control_plane.kill()
    stop_leftover_servers(control_plane.data_dir)  # as after a machine reboot: every server is down
    control_plane.start()
    assert read_rows(str(wait_for_state(acme, f"{SERVICES}/restarted", {"RUNNING"})["uri"])) == ["kept"]


def test_plan_change_applies_settings(acme: httpx.Client) -> None:
    service = create(acme, "growing")
    response = acme.patch(f"{SERVICES}/growing", json={"plan": "startup-4"})
    assert response.status_code == 200 and response.json()["plan"] == "startup-4"
    service = wait_for_state(acme, f"{SERVICES}/growing", {"RUNNING"})
    with psycopg.connect(str(service["uri"])) as connection:
        assert connection.execute("SHOW max_connections").fetchone() == ("100",)


def test_cloud_change_migrates_the_data(control_plane: ControlPlane, acme: httpx.Client) -> None:
    service = create(acme, "mover")
    write_rows(str(service["uri"]), ["travels"])
    response = acme.patch(f"{SERVICES}/mover", json={"cloud": "local-west"})
    assert response.status_code == 200
    moved = wait_for_state(acme, f"{SERVICES}/mover", {"RUNNING"})
    assert moved["cloud"] == "local-west"
    assert read_rows(str(moved["uri"])) == ["travels"]
    assert (control_plane.data_dir / "regions/local-west/services/acme/mover/PG_VERSION").exists()
    assert not (control_plane.data_dir / "regions/local-east/services/acme/mover").exists()


def test_delete_stops_and_removes_and_termination_protection_refuses(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    create(acme, "guarded", termination_protection=True)
    refused = acme.delete(f"{SERVICES}/guarded")
    assert refused.status_code == 409 and refused.json()["error"]["field"] == "termination_protection"
    assert acme.patch(f"{SERVICES}/guarded", json={"termination_protection": False}).status_code == 200
    assert acme.delete(f"{SERVICES}/guarded").status_code == 202
    wait_for_gone(acme, f"{SERVICES}/guarded")
    assert not (control_plane.data_dir / "regions/local-east/services/acme/guarded").exists()


def test_list_shows_the_project_services(acme: httpx.Client) -> None:
    create(acme, "listed")
    names = [service["name"] for service in acme.get(SERVICES).json()["services"]]
    assert "listed" in names and names == sorted(names)


def test_kill_9_during_create_resumes_and_leaves_nothing_untracked(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    body = {"name": "interrupted", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(SERVICES, json=body).status_code == 201
    control_plane.kill()  # the create job is under way (initdb takes about a second)
    control_plane.start()
    service = wait_for_state(acme, f"{SERVICES}/interrupted", {"RUNNING"})
    write_rows(str(service["uri"]), ["resumed"])
    tracked = {s["name"] for s in acme.get(SERVICES).json()["services"]}
    on_disk = {path.name for path in control_plane.data_dir.glob("regions/*/services/acme/*") if path.is_dir()}
    assert on_disk <= tracked, f"data directories no service owns: {on_disk - tracked}"


def test_a_cluster_made_before_marks_is_marked_at_start_and_deleted(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    create(acme, "older")
    data_dir = control_plane.data_dir / "regions/local-east/services/acme/older"
    control_plane.stop()
    (data_dir.parent / ".older.dbaas-mark").unlink()  # as an older control plane left it: no mark
    control_plane.start()
    assert acme.delete(f"{SERVICES}/older").status_code == 202
    wait_for_gone(acme, f"{SERVICES}/older")
    assert not data_dir.exists()
