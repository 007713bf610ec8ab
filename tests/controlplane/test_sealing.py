"""Service passwords are sealed in the catalog file, open through the API, and old plaintext is resealed."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from controlplane.catalog import sealing
from tests.controlplane.cp_process import ControlPlane, wait_for_state

PROJECT = "/v1/projects/acme"


def stored_passwords(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "catalog.sqlite") as catalog:
        return [row[0] for row in catalog.execute("SELECT password FROM services")]


def test_the_catalog_holds_no_plaintext_password_and_only_its_owner_reads_it(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    body = {"name": "vault", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    # With an Idempotency-Key, the answer (which carries the password) is recorded too: sealed as well.
    assert acme.post(f"{PROJECT}/services", json=body, headers={"Idempotency-Key": "vault-1"}).status_code == 201
    service = wait_for_state(acme, f"{PROJECT}/services/vault", {"RUNNING"})
    [stored] = stored_passwords(control_plane.data_dir)
    assert stored.startswith(sealing.PREFIX) and service["password"] not in stored
    raw = b"".join(
        path.read_bytes() for path in control_plane.data_dir.glob("catalog.sqlite*")
    )  # the database and its write-ahead log
    assert service["password"].encode() not in raw
    for name in ("catalog.sqlite", "catalog.sqlite-wal", "sealing.key", "admin-token"):
        path = control_plane.data_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_a_password_stored_before_sealing_is_sealed_at_the_next_start(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    service = acme.get(f"{PROJECT}/services/vault").json()
    control_plane.stop()
    with sqlite3.connect(control_plane.data_dir / "catalog.sqlite") as catalog:
        catalog.execute("UPDATE services SET password = ? WHERE name = 'vault'", (service["password"],))
    control_plane.start()
    assert acme.get(f"{PROJECT}/services/vault").json()["password"] == service["password"]
    [stored] = stored_passwords(control_plane.data_dir)
    assert stored.startswith(sealing.PREFIX)
    assert acme.delete(f"{PROJECT}/services/vault").status_code == 202


def test_a_control_plane_without_the_catalog_s_key_refuses_to_start_and_keeps_no_key(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    body = {"name": "keyed", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    wait_for_state(acme, f"{PROJECT}/services/keyed", {"RUNNING"})
    control_plane.stop()
    key = control_plane.data_dir / "sealing.key"
    kept = key.read_bytes()
    key.unlink()  # as on a second host sharing the catalog, with no sealing_key_file
    refused = subprocess.run(
        [sys.executable, "-m", "controlplane.cli", "token", "create", "--project", "acme",
         "--data-dir", str(control_plane.data_dir)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and "sealing_key_file" in refused.stderr, refused.stderr
    assert not key.exists(), "the wrong key is not left behind"
    key.write_bytes(kept)
    key.chmod(0o600)
    control_plane.start()
    assert acme.get(f"{PROJECT}/services/keyed").json()["state"] == "RUNNING"
    assert acme.delete(f"{PROJECT}/services/keyed").status_code == 202
