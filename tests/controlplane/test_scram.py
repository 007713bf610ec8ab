"""The verifier logs in on a real server: PostgreSQL accepts it as the role's password."""

from __future__ import annotations

import base64

import psycopg
import pytest

from controlplane.engine.scram import scram_verifier
from tests.postgres_servers import PostgresServer


def test_a_verifier_has_postgresql_s_layout() -> None:
    verifier = scram_verifier("secret", salt=b"0123456789abcdef")
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored, server = keys.split(":")
    assert (method, iterations, base64.b64decode(salt)) == ("SCRAM-SHA-256", "4096", b"0123456789abcdef")
    assert len(base64.b64decode(stored)) == len(base64.b64decode(server)) == 32
    assert scram_verifier("secret") != scram_verifier("secret"), "a fresh salt each time"


def test_postgresql_accepts_the_verifier_as_the_password(postgres_server: PostgresServer) -> None:
    with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS scram_probe")
        admin.execute(f"CREATE ROLE scram_probe LOGIN PASSWORD '{scram_verifier('s3cret-pass')}'")
    try:
        probe = postgres_server.dsn.replace(
            f"{postgres_server.username}:{postgres_server.password}", "scram_probe:s3cret-pass"
        )
        with psycopg.connect(probe) as connection:
            assert connection.execute("SELECT current_user").fetchone() == ("scram_probe",)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(probe.replace("s3cret-pass", "wrong"))
    finally:
        with psycopg.connect(postgres_server.dsn, autocommit=True) as admin:
            admin.execute("DROP ROLE scram_probe")
