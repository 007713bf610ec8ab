"""Backups, forks, imports and verification: real PostgreSQL, real pgBackRest, real HTTP.

One source service is shared by the module: its rows are written in order, so each test says
what it adds. Markers are rows of `notes`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from controlplane.engine.os_user import resolve_account
from controlplane.storage.directory import DirectoryRepository
from controlplane.storage.repository_copy import listed_backups
from tests.controlplane.cp_process import ControlPlane, wait_for_gone, wait_for_state

PROJECT = "/v1/projects/acme"
SOURCE = f"{PROJECT}/services/source"
BACKUPS = f"{SOURCE}/backups"


@pytest.fixture(scope="module")
def source(acme: httpx.Client) -> dict[str, Any]:
    body = {"name": "source", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    service = wait_for_state(acme, SOURCE, {"RUNNING"})
    sql(service, "CREATE TABLE notes (body text, at timestamptz DEFAULT clock_timestamp())")
    return service


def sql(service: dict[str, Any], statement: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(str(service["uri"]), autocommit=True) as connection:
        cursor = connection.execute(statement, args or None)
        return cursor.fetchall() if cursor.description else []


def notes(service: dict[str, Any]) -> set[str]:
    return {row[0] for row in sql(service, "SELECT body FROM notes")}


def backup(client: httpx.Client, path: str = BACKUPS, **body: object) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 202, response.text
    created: dict[str, Any] = response.json()
    assert created["state"] == "Pending"
    return wait_for_backup(client, f"{path}/{created['name']}")


def wait_for_backup(client: httpx.Client, path: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = client.get(path).json()
        if found["state"] in ("Succeeded", "Failed"):
            assert found["state"] == "Succeeded", found["state_message"]
            return found
        assert time.monotonic() < deadline, f"{path} stuck in {found['state']}"
        time.sleep(0.2)


def fork_request(client: httpx.Client, name: str, service: str = "source", **fork_from: object) -> httpx.Response:
    """A fork names no service_type: it takes its source's."""
    body = {
        "name": name,
        "cloud": "local-east",
        "plan": "hobbyist",
        "fork_from": {"service": service, **fork_from},
    }
    return client.post(f"{PROJECT}/services", json=body)


def fork(client: httpx.Client, name: str, service: str = "source", **fork_from: object) -> dict[str, Any]:
    response = fork_request(client, name, service, **fork_from)
    assert response.status_code == 201, response.text
    return wait_for_state(client, f"{PROJECT}/services/{name}", {"RUNNING"}, timeout=300)


def refused_time(client: httpx.Client, target: str, service: str = "source") -> str:
    """The error message of a fork at `target` refused for its recovery_target_time."""
    response = fork_request(client, "refused", service, recovery_target_time=target)
    error = response.json()["error"]
    assert response.status_code == 422 and error["field"] == "fork_from.recovery_target_time", response.text
    return str(error["message"])


def test_full_backup_is_taken_and_recorded(acme: httpx.Client, source: dict[str, Any]) -> None:
    sql(source, "INSERT INTO notes (body) VALUES ('before full')")
    taken = backup(acme, description="first")
    assert len(taken["name"]) == 14 and taken["name"].isdigit(), "generated yyyyMMddHHmmss"
    assert (taken["type"], taken["incremental"], taken["container"], taken["region"]) == (
        "full",
        False,
        "default",
        "local-east",
    )
    assert taken["size_bytes"] > 0 and taken["ready_to_use"] and taken["backup_plugin"] == "pgbackrest"
    assert taken["backup_handle"].startswith("pgbackrest:") and taken["recovery_window"]["start"]


def test_fork_from_a_backup_has_the_rows_written_before_it(acme: httpx.Client, source: dict[str, Any]) -> None:
    first = acme.get(BACKUPS).json()["backups"][0]
    sql(source, "INSERT INTO notes (body) VALUES ('after full')")
    forked = fork(acme, "from-backup", backup=first["name"])
    assert notes(forked) == {"before full"}
    assert forked["restored_from"]["backup"] == first["name"]
    assert forked["restored_from"]["region"] == "local-east"
    assert sql(forked, "SHOW data_checksums") == [("on",)]


def test_incremental_chain_restores(acme: httpx.Client, source: dict[str, Any]) -> None:
    full = acme.get(BACKUPS).json()["backups"][-1]
    sql(source, "INSERT INTO notes (body) VALUES ('in incremental 1')")
    first = backup(acme, incremental=True)
    assert (first["type"], first["parent"]) == ("incremental", full["name"])
    sql(source, "INSERT INTO notes (body) VALUES ('in incremental 2')")
    second = backup(acme, name="incr-2", parent=first["name"])
    assert second["parent"] == first["name"]
    forked = fork(acme, "from-incremental", backup="incr-2")
    assert {"before full", "in incremental 1", "in incremental 2"} <= notes(forked)


def test_parent_must_be_the_latest_backup(acme: httpx.Client, source: dict[str, Any]) -> None:
    oldest = acme.get(BACKUPS).json()["backups"][0]["name"]
    response = acme.post(BACKUPS, json={"parent": oldest})
    error = response.json()["error"]
    assert response.status_code == 422 and error["field"] == "parent" and "incr-2" in error["message"]
    both = acme.post(BACKUPS, json={"parent": oldest, "incremental": True})
    assert both.status_code == 422 and both.json()["error"]["field"] == "incremental"


def test_fork_at_the_latest_transaction_has_rows_after_the_last_backup(
    acme: httpx.Client, source: dict[str, Any]
) -> None:
    # Committed in its own transaction, then forked at once: the control plane brings the WAL to the archive.
    [(committed_at,)] = sql(source, "INSERT INTO notes (body) VALUES ('after last backup') RETURNING now()")
    forked = fork(acme, "latest")
    assert "after last backup" in notes(forked)
    assert forked["restored_from"]["backup"] is None
    assert datetime.fromisoformat(forked["restored_from"]["recovery_time"]) >= committed_at
    assert forked["state_message"] is None


def test_point_in_time_fork_lands_between_two_markers(acme: httpx.Client, source: dict[str, Any]) -> None:
    # A target a few seconds old with a later commit right after it, and no WAL switch by hand.
    [(a_written,)] = sql(source, "INSERT INTO notes (body) VALUES ('marker A') RETURNING now()")
    [(between,)] = sql(source, "SELECT clock_timestamp()")
    sql(source, "INSERT INTO notes (body) VALUES ('marker B')")
    forked = fork(acme, "point-in-time", recovery_target_time=between.isoformat())
    restored = notes(forked)
    assert "marker A" in restored and "marker B" not in restored
    # The last commit replayed: marker A's (or a later one of nobody's data), never past the target.
    assert a_written <= datetime.fromisoformat(forked["restored_from"]["recovery_time"]) <= between


def test_a_quiet_source_forks_at_a_point_in_time_seconds_old(acme: httpx.Client, source: dict[str, Any]) -> None:
    """No commit follows the target: the control plane itself makes the archive reach past it."""
    sql(source, "INSERT INTO notes (body) VALUES ('quiet marker')")
    [(target,)] = sql(source, "SELECT clock_timestamp()")
    forked = fork(acme, "quiet-point", recovery_target_time=target.isoformat())
    assert "quiet marker" in notes(forked) and forked["service_type"] == "pg"


def test_a_time_in_the_future_is_refused(acme: httpx.Client, source: dict[str, Any]) -> None:
    assert "in the future" in refused_time(acme, "2999-01-01T00:00:00Z")


def test_time_outside_the_window_names_the_window(acme: httpx.Client, source: dict[str, Any]) -> None:
    message = refused_time(acme, "2001-01-01T00:00:00Z")
    assert "recoverable window" in message and " to " in message


def test_a_fork_given_another_service_type_is_refused(acme: httpx.Client, source: dict[str, Any]) -> None:
    body = {"name": "wrong-engine", "service_type": "mysql", "cloud": "local-east", "plan": "hobbyist"}
    response = acme.post(f"{PROJECT}/services", json={**body, "fork_from": {"service": "source"}})
    assert response.status_code == 422 and response.json()["error"]["field"] == "service_type", response.text
    assert "must be 'pg'" in response.json()["error"]["message"]


def test_labels_and_description_change_in_place(acme: httpx.Client, source: dict[str, Any]) -> None:
    response = acme.patch(f"{BACKUPS}/incr-2", json={"labels": {"team": "data"}, "description": "kept"})
    assert response.status_code == 200 and response.json()["labels"] == {"team": "data"}
    listed = acme.get(BACKUPS, params={"label": "team=data"}).json()["backups"]
    assert [b["name"] for b in listed] == ["incr-2"]


def test_import_of_a_handle_and_a_fork_from_it(acme: httpx.Client, source: dict[str, Any]) -> None:
    handle = acme.get(BACKUPS).json()["backups"][0]["backup_handle"]
    missing = acme.put(
        f"{PROJECT}/services/elsewhere/backups/ghost",
        json={"import_source": {"backup_handle": handle.rsplit("/", 1)[0] + "/20000101-000000F"}},
    )
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "import_source.backup_handle"
    imported = acme.put(
        f"{PROJECT}/services/elsewhere/backups/adopted", json={"import_source": {"backup_handle": handle}}
    )
    assert imported.status_code == 202, imported.text
    assert imported.json()["state"] == "Succeeded" and imported.json()["import_source"]["backup_handle"] == handle
    assert "before full" in notes(fork(acme, "from-import", "elsewhere", backup="adopted"))
    # Forgetting an imported backup never deletes its data: the handle can be imported again.
    assert acme.delete(f"{PROJECT}/services/elsewhere/backups/adopted").status_code == 202
    wait_for_gone(acme, f"{PROJECT}/services/elsewhere/backups/adopted")
    again = acme.put(f"{PROJECT}/services/elsewhere/backups/adopted", json={"import_source": {"backup_handle": handle}})
    assert again.status_code == 202


def wait_until_expired(label: str, backup_handle: str, timeout: float = 120) -> None:
    """The deferred expiry runs after the newer full backup succeeded (asynchronously, like every expiry)."""
    deadline = time.monotonic() + timeout
    while label in listed(backup_handle):
        assert time.monotonic() < deadline, f"{label} was not expired"
        time.sleep(0.2)


def listed(backup_handle: str) -> tuple[str, ...]:
    """The labels pgBackRest lists in the repository of a backup handle `pgbackrest:<repo>#<stanza>/<label>`."""
    repo, _, rest = backup_handle.removeprefix("pgbackrest:").partition("#")
    return listed_backups(
        DirectoryRepository("local-east", Path(repo), resolve_account("postgres")), rest.split("/")[0]
    )


def test_deleting_the_only_full_backup_takes_its_chain_and_expires_it_later(
    acme: httpx.Client, source: dict[str, Any]
) -> None:
    chain = acme.get(BACKUPS).json()["backups"]
    full = chain[0]
    assert [b["name"] for b in chain] == [full["name"], chain[1]["name"], "incr-2"]
    assert acme.delete(f"{BACKUPS}/{full['name']}").status_code == 202
    for item in chain:
        wait_for_gone(acme, f"{BACKUPS}/{item['name']}")
    assert acme.get(BACKUPS).json()["backups"] == []
    # pgBackRest keeps the only full backup of a repository: the control plane expires it after the next one.
    label = full["backup_handle"].rsplit("/", 1)[1]
    assert label in listed(full["backup_handle"])
    successor = backup(acme, name="next-full")
    wait_until_expired(label, successor["backup_handle"])
    assert listed(successor["backup_handle"]) == (successor["backup_handle"].rsplit("/", 1)[1],)


def test_a_backup_deleted_while_it_is_taken_is_deleted_once_taken(acme: httpx.Client, source: dict[str, Any]) -> None:
    assert acme.post(BACKUPS, json={"name": "short-lived"}).status_code == 202
    deleted = acme.delete(f"{BACKUPS}/short-lived")
    assert deleted.status_code == 202 and deleted.json()["state_message"] == "deleting"
    wait_for_gone(acme, f"{BACKUPS}/short-lived", timeout=180)
    assert [b["name"] for b in acme.get(BACKUPS).json()["backups"]] == ["next-full"]


def test_a_deletion_interrupted_by_kill_9_finishes_and_its_data_is_expired_later(
    control_plane: ControlPlane, acme: httpx.Client, source: dict[str, Any]
) -> None:
    victim = backup(acme, name="victim", container="kill-box")
    assert acme.delete(f"{BACKUPS}/victim").status_code == 202
    control_plane.kill()
    control_plane.start()
    wait_for_gone(acme, f"{BACKUPS}/victim", timeout=180)
    successor = backup(acme, name="kill-box-next", container="kill-box")
    wait_until_expired(victim["backup_handle"].rsplit("/", 1)[1], successor["backup_handle"])
    assert acme.delete(f"{BACKUPS}/kill-box-next").status_code == 202
    wait_for_gone(acme, f"{BACKUPS}/kill-box-next")


def test_deleted_files_fail_verification_and_no_fork_is_made(
    control_plane: ControlPlane, acme: httpx.Client, source: dict[str, Any]
) -> None:
    taken = backup(acme, name="to-damage")
    repo = taken["backup_handle"].split(":", 1)[1].split("#")[0]
    stanza, label = taken["backup_handle"].rsplit("#", 1)[1].split("/")
    files = sorted(Path(repo).glob(f"backup/{stanza}/{label}/pg_data/base/**/*"))
    victims = [path for path in files if path.is_file()][:5]
    assert victims
    for path in victims:
        path.unlink()
    assert acme.post(f"{BACKUPS}/to-damage/verify").status_code == 202
    deadline = time.monotonic() + 120
    while (found := acme.get(f"{BACKUPS}/to-damage").json())["verify_state"] is None:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert found["verify_state"] == "failed" and not found["ready_to_use"] and found["verify_message"]
    response = fork_request(acme, "from-damaged", backup="to-damage")
    assert response.status_code == 422 and "verification" in response.json()["error"]["message"]


def test_container_precedence(acme: httpx.Client, source: dict[str, Any]) -> None:
    assert acme.put(f"{PROJECT}/backup_strategy", json={"container": "project-box"}).status_code == 200
    assert backup(acme)["container"] == "project-box"
    assert (
        acme.put(
            f"{SOURCE}/backup_strategy", json={"container": "service-box", "retention": {"full_count": 3}}
        ).status_code
        == 200
    )
    assert backup(acme, name="service-level")["container"] == "service-box"
    assert backup(acme, name="explicit", container="given-box")["container"] == "given-box"
    bad = acme.put(f"{PROJECT}/backup_strategy", json={"container": "x", "schedule": "every tuesday"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "schedule"


def test_retention_expires_what_falls_outside_it(acme: httpx.Client, source: dict[str, Any]) -> None:
    strategy = {"container": "retained", "retention": {"full_count": 1}}
    assert acme.put(f"{SOURCE}/backup_strategy", json=strategy).status_code == 200
    first = backup(acme, name="kept-then-expired")
    second = backup(acme, name="kept")
    assert first["container"] == second["container"] == "retained"
    wait_for_gone(acme, f"{BACKUPS}/kept-then-expired")
    assert acme.get(f"{BACKUPS}/kept").json()["state"] == "Succeeded"


def test_fork_from_a_deleted_source_still_works(acme: httpx.Client, source: dict[str, Any]) -> None:
    body = {"name": "doomed", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    doomed = wait_for_state(acme, f"{PROJECT}/services/doomed", {"RUNNING"})
    sql(doomed, "CREATE TABLE t (v text)")
    sql(doomed, "INSERT INTO t VALUES ('survives')")
    backup(acme, f"{PROJECT}/services/doomed/backups", name="last-words")
    sql(doomed, "INSERT INTO t VALUES ('committed just before the deletion')")
    assert acme.delete(f"{PROJECT}/services/doomed").status_code == 202
    wait_for_gone(acme, f"{PROJECT}/services/doomed")
    window = acme.get(f"{PROJECT}/services/doomed/backups/last-words").json()["recovery_window"]
    assert window["end"] is not None, "the deletion archived everything: the window ends there"

    heir = fork(acme, "heir", "doomed", backup="last-words")
    assert sql(heir, "SELECT v FROM t") == [("survives",)]
    last = fork(acme, "last-heir", "doomed")
    assert sql(last, "SELECT v FROM t ORDER BY v") == [("committed just before the deletion",), ("survives",)]
    assert "doomed was not running" in last["state_message"]
    message = refused_time(acme, datetime.now(UTC).isoformat(), "doomed")
    assert f" to {window['end'][:19]}" in message, "the message names the window"


def test_a_deleted_service_leaves_nothing_its_listed_backups_do_not_need(
    control_plane: ControlPlane, acme: httpx.Client, source: dict[str, Any]
) -> None:
    """Its only full backup deleted first (a deferred expiry), then the service: stanza and config are gone."""
    body = {"name": "ephemeral", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    wait_for_state(acme, f"{PROJECT}/services/ephemeral", {"RUNNING"})
    taken = backup(acme, f"{PROJECT}/services/ephemeral/backups", name="only", container="ephemeral-box")
    stanza = taken["backup_handle"].rsplit("#", 1)[1].split("/")[0]
    assert acme.delete(f"{PROJECT}/services/ephemeral/backups/only").status_code == 202
    wait_for_gone(acme, f"{PROJECT}/services/ephemeral/backups/only")
    assert listed(taken["backup_handle"]), "pgBackRest still holds the only full backup"
    assert acme.delete(f"{PROJECT}/services/ephemeral").status_code == 202
    wait_for_gone(acme, f"{PROJECT}/services/ephemeral")
    assert list(control_plane.data_dir.rglob(f"*{stanza}*")) == [], "no repository, configuration or lock is left"


def test_kill_9_during_a_backup_never_leaves_it_running(
    control_plane: ControlPlane, acme: httpx.Client, source: dict[str, Any]
) -> None:
    response = acme.post(BACKUPS, json={"name": "interrupted"})
    assert response.status_code == 202
    time.sleep(0.5)
    control_plane.kill()
    control_plane.start()
    deadline = time.monotonic() + 300
    while (found := acme.get(f"{BACKUPS}/interrupted").json())["state"] in ("Pending", "Running"):
        assert time.monotonic() < deadline, "backup stuck after the control plane was killed"
        time.sleep(0.5)
    assert found["state"] in ("Succeeded", "Failed")
