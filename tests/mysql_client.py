"""The `mariadb` client as a tenant runs it: statements over a mysql service's `uri`, the password in the
environment (never on a command line)."""

from __future__ import annotations

import os
import subprocess
import urllib.parse


def mariadb(uri: str, statement: str, *, database: str | None = "defaultdb") -> subprocess.CompletedProcess[str]:
    """`statement` run by the `mariadb` client over `uri` (mysql://user:password@host:port/defaultdb)."""
    parts = urllib.parse.urlsplit(uri)
    assert parts.scheme == "mysql" and parts.path == "/defaultdb", uri
    argv = ["mariadb", "--no-defaults", "-h", str(parts.hostname), "-P", str(parts.port)]
    argv += ["-u", urllib.parse.unquote(str(parts.username)), "--batch", "--skip-column-names"]
    argv += [*([database] if database else []), "-e", statement]
    password = urllib.parse.unquote(str(parts.password))
    return subprocess.run(argv, env=dict(os.environ, MYSQL_PWD=password), capture_output=True, text=True, timeout=60)


def rows(uri: str, statement: str) -> list[str]:
    """The lines `statement` answers; AssertionError with the client's message when it fails."""
    done = mariadb(uri, statement)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()
