"""A tenant with its service's credentials is an owner, never a superuser: no programs, no server files.

Attacks replayed against a real control plane with the `uri` the API gives: COPY … TO PROGRAM, reading server
files, granting itself the predefined roles that allow both, ALTER SYSTEM. What an owner needs still works:
tables in its database, a database of its own. A fork of it has the same shape.
"""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors

from tests.controlplane.cp_process import ControlPlane, operator_driver, wait_for_state
from tests.controlplane.test_backups import backup, sql

PROJECT = "/v1/projects/acme"
ATTACKS = (
    "COPY (SELECT 1) TO PROGRAM 'id > /tmp/owned'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_read_binary_file('global/pg_control')",
    "SELECT pg_ls_dir('.')",
    "GRANT pg_execute_server_program TO CURRENT_USER",
    "GRANT pg_read_server_files TO CURRENT_USER",
    "ALTER SYSTEM SET archive_command = 'id'",
    "CREATE ROLE accomplice SUPERUSER LOGIN",
    "ALTER ROLE CURRENT_USER SUPERUSER",
)


@pytest.fixture(scope="module")
def tenant(acme: httpx.Client) -> dict[str, Any]:
    body = {"name": "tenant", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    return wait_for_state(acme, f"{PROJECT}/services/tenant", {"RUNNING"})


def assert_owner_not_superuser(service: dict[str, Any]) -> None:
    assert sql(service, "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user") == [(False, True)]
    for attack in ATTACKS:
        with psycopg.connect(str(service["uri"]), autocommit=True) as connection, pytest.raises(errors.Error) as err:
            connection.execute(attack)
        assert isinstance(err.value, errors.InsufficientPrivilege | errors.UndefinedObject), (attack, err.value)


def test_the_service_user_owns_its_database_but_is_no_superuser(tenant: dict[str, Any]) -> None:
    sql(tenant, "CREATE TABLE ledger (id int PRIMARY KEY, note text)")
    sql(tenant, "INSERT INTO ledger VALUES (1, 'mine')")
    sql(tenant, "CREATE DATABASE reports")
    assert_owner_not_superuser(tenant)


def test_a_fork_gives_its_tenant_the_same_shape(acme: httpx.Client, tenant: dict[str, Any]) -> None:
    backups = f"{PROJECT}/services/tenant/backups"
    assert acme.post(backups, json={"name": "base"}).status_code == 202
    wait_for_state(acme, f"{backups}/base", {"Succeeded"})
    body = {
        "name": "tenant-fork",
        "service_type": "pg",
        "cloud": "local-east",
        "plan": "hobbyist",
        "fork_from": {"service": "tenant", "backup": "base"},
    }
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    fork = wait_for_state(acme, f"{PROJECT}/services/tenant-fork", {"RUNNING"}, timeout=300)
    assert fork["password"] != tenant["password"]
    assert sql(fork, "SELECT note FROM ledger") == [("mine",)]
    assert_owner_not_superuser(fork)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(str(fork["uri"]).replace(fork["password"], tenant["password"]))


def test_functions_planted_under_catalog_names_never_run_as_the_control_plane(
    acme: httpx.Client, tenant: dict[str, Any]
) -> None:
    """The tenant owns its database: it sets the search_path and plants public.pg_switch_wal and friends, then
    asks for work that makes the control plane call them (a latest-transaction and a point-in-time fork)."""
    promote = f"EXECUTE 'ALTER ROLE {tenant['username']} SUPERUSER'"
    for name, returns, real in (
        ("pg_switch_wal", "pg_lsn", "pg_catalog.pg_switch_wal()"),
        ("txid_current", "bigint", "pg_catalog.txid_current()"),
        ("pg_is_in_recovery", "boolean", "pg_catalog.pg_is_in_recovery()"),
    ):
        sql(
            tenant,
            f"CREATE FUNCTION public.{name}() RETURNS {returns} LANGUAGE plpgsql AS $$ BEGIN {promote}; "
            f"RETURN {real}; END $$",
        )
    sql(tenant, "ALTER DATABASE postgres SET search_path = public, pg_catalog")
    [(target,)] = sql(tenant, "SELECT clock_timestamp()")
    for name, fork_from in (("trap-latest", {}), ("trap-point", {"recovery_target_time": target.isoformat()})):
        body = {
            "name": name,
            "service_type": "pg",
            "cloud": "local-east",
            "plan": "hobbyist",
            "fork_from": {"service": "tenant", **fork_from},
        }
        assert acme.post(f"{PROJECT}/services", json=body).status_code == 201, name
        wait_for_state(acme, f"{PROJECT}/services/{name}", {"RUNNING"}, timeout=300)
    assert_owner_not_superuser(tenant)


def test_a_service_whose_user_was_the_superuser_loses_it_at_the_next_start(
    control_plane: ControlPlane, acme: httpx.Client
) -> None:
    """Clusters made before the control plane kept a superuser of its own: the tenant was that superuser."""
    body = {"name": "legacy", "service_type": "pg", "cloud": "local-east", "plan": "hobbyist"}
    assert acme.post(f"{PROJECT}/services", json=body).status_code == 201
    legacy = wait_for_state(acme, f"{PROJECT}/services/legacy", {"RUNNING"})
    driver = operator_driver(control_plane, legacy)
    control_plane.stop()
    # As that older control plane left it (state today's code never makes, so the test writes it as the
    # operator): the tenant is the superuser its peer login maps to.
    driver.psql(f'ALTER ROLE "{legacy["username"]}" SUPERUSER', user=driver.peer_role())
    driver.map_peer_login(legacy["username"])
    assert sql(legacy, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") == [(True,)]
    control_plane.start()
    wait_for_state(acme, f"{PROJECT}/services/legacy", {"RUNNING"})
    assert driver.peer_role() != legacy["username"], "the control plane's superuser took the peer login"
    assert_owner_not_superuser(legacy)
    # pgBackRest logs in as the new superuser: backups still work.
    assert backup(acme, f"{PROJECT}/services/legacy/backups", name="after")["state"] == "Succeeded"
