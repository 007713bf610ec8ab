"""The real `dbaas-cp` command as an operator runs it: settings refused in one line, `--version`, one control
plane per data directory, tokens made, listed and revoked (the running API refuses a revoked one), no new
catalog unless asked for, and one log format with request ids."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from controlplane.catalog.tokens import CALLER_TTL_SECONDS, hash_token
from controlplane.engine.ports import free_loopback_port
from tests.controlplane.cp_process import ControlPlane, remove_tree, unprivileged_reachable_dir
from tests.plugin_process import REPO

DBAAS_CP = Path(sys.executable).with_name("dbaas-cp")  # the installed command, not a module run
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: ")


def dbaas_cp(*args: str, cwd: Path = REPO, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if not name.upper().startswith("DBAAS_CP_")}
    return subprocess.run(
        [str(DBAAS_CP), *args], cwd=cwd, capture_output=True, text=True, timeout=60, env={**clean, **(env or {})}
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The message of a command refused as the CLI promises: exit `code`, one line, no traceback."""
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith("dbaas-cp: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert result.stdout == ""
    return result.stderr.removeprefix("dbaas-cp: error: ").strip()


@pytest.fixture
def plane() -> Iterator[ControlPlane]:
    """A control plane of one test's own, not yet started (text logs)."""
    data_dir = unprivileged_reachable_dir("dbaas-cp-cli-")
    plane = ControlPlane(data_dir)
    yield plane
    plane.stop()
    remove_tree(data_dir)


def test_version() -> None:
    result = dbaas_cp("--version")
    assert (result.returncode, result.stdout) == (0, f"dbaas-cp {version('terraform-provider-dbaas')}\n")


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("listen = 5", "listen: input should be a valid string, got 5"),
        ('listen = "127.0.0.1:8750"\nlisten_port = 1', "listen_port: unknown setting"),
        ('[[regions]]\nname = "a"\n[[regions]]\nname = 7', "regions[1].name: input should be a valid string, got 7"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "cp.toml"
    config.write_text(toml)
    started = dbaas_cp("serve", "--data-dir", str(tmp_path / "data"), "--config", str(config))
    assert one_line_error(started, 2) == message
    assert not (tmp_path / "data").exists(), "nothing made before the settings are checked"


def test_environment_wins_over_the_file_and_flags_over_the_environment(tmp_path: Path) -> None:
    from_env, from_file, from_flag = tmp_path / "env", tmp_path / "file", tmp_path / "flag"
    config = tmp_path / "cp.toml"
    config.write_text(f'data_dir = "{from_file}"\n')
    env = {"DBAAS_CP_DATA_DIR": str(from_env)}
    made = dbaas_cp("token", "create", "--project", "acme", "--init", "--config", str(config), env=env)
    assert made.returncode == 0, made.stderr
    assert (from_env / "catalog.sqlite").is_file() and not from_file.exists()
    listed = dbaas_cp("token", "list", "--config", str(config), env=env)
    assert listed.returncode == 0 and " acme " in listed.stdout, listed.stderr
    refused = dbaas_cp("token", "list", "--data-dir", str(from_flag), env=env)
    assert one_line_error(refused, 1).startswith(f"no catalog in {from_flag} ")
    wrong = dbaas_cp("token", "list", env={**env, "DBAAS_CP_JOB_WORKERS": "many"})
    assert one_line_error(wrong, 2).startswith("job_workers: input should be a valid integer")
    unknown = dbaas_cp("token", "list", env={**env, "DBAAS_CP_DATADIR": str(from_flag)})
    assert one_line_error(unknown, 2).startswith("DBAAS_CP_DATADIR: unknown setting")


def test_no_new_catalog_unless_asked(tmp_path: Path) -> None:
    """Run from a directory that is not the control plane's: the default ./.dbaas has no catalog."""
    default = tmp_path / ".dbaas"
    for command in (["token", "create", "--project", "acme"], ["token", "list"], ["token", "revoke", "1"]):
        refused = dbaas_cp(*command, cwd=tmp_path)
        assert one_line_error(refused, 1).startswith(f"no catalog in {default} (catalog.sqlite not found)")
    assert one_line_error(dbaas_cp("stop-services", cwd=tmp_path), 1).startswith(f"no catalog in {default} ")
    assert "--init" in dbaas_cp("token", "create", "--project", "acme", cwd=tmp_path).stderr
    assert not default.exists(), "nothing made"
    made = dbaas_cp("token", "create", "--project", "acme", "--init", cwd=tmp_path)
    assert made.returncode == 0 and made.stdout.startswith("dbaas_"), made.stderr
    assert (default / "catalog.sqlite").is_file()
    assert dbaas_cp("stop-services", cwd=tmp_path).stdout == "stopped 0 database server(s)\n"


def test_tokens_created_listed_and_revoked(control_plane: ControlPlane) -> None:
    token = control_plane.create_token("acme", description="ci deploys")
    with control_plane.client(token) as acme:
        assert acme.get("/v1/projects/acme/services").status_code == 200
        listed = control_plane.run("token", "list")
        assert listed.returncode == 0, listed.stderr
        header, *lines = listed.stdout.splitlines()
        assert header.split() == ["ID", "PROJECT", "CREATED", "DESCRIPTION"]
        rows = [line.split(maxsplit=3) for line in lines]
        assert ["*", "admin token made at first start"] in [[row[1], row[3]] for row in rows]
        [(token_id, _, created, _)] = [row for row in rows if row[1:4:2] == ["acme", "ci deploys"]]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", created)
        assert token not in listed.stdout and hash_token(token) not in listed.stdout, "never the secret"

        revoked = control_plane.run("token", "revoke", token_id)
        assert (revoked.returncode, revoked.stdout) == (0, f"revoked token {token_id}\n"), revoked.stderr
        # A control plane keeps a caller it found for CALLER_TTL_SECONDS: refused within that time, never later.
        deadline = time.monotonic() + CALLER_TTL_SECONDS + 5
        while (refused := acme.get("/v1/projects/acme/services")).status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
    assert f"\n{token_id} " not in control_plane.run("token", "list").stdout
    again = control_plane.run("token", "revoke", token_id)
    assert one_line_error(again, 1) == f"no token with id {token_id} in the catalog of {control_plane.data_dir}"
    with control_plane.client(control_plane.admin_token) as admin:
        assert admin.get("/v1/regions").status_code == 200, "the other tokens still work"


def test_a_second_serve_on_the_data_directory_is_refused_until_the_first_ends(plane: ControlPlane) -> None:
    plane.start()
    assert plane.process is not None
    second = plane.run("serve", "--listen", f"127.0.0.1:{free_loopback_port()}")
    message = one_line_error(second, 1)
    assert message.startswith(f"data directory {plane.data_dir} is in use by another control plane")
    assert f"(pid {plane.process.pid}, lock {plane.data_dir / 'serve.lock'})" in message
    plane.kill()  # the kernel drops the lock with the process: no stale lock after kill -9
    plane.start()
    with plane.client(plane.admin_token) as admin:
        answer = admin.get("/v1/regions", headers={"X-Request-Id": "after-kill-1"})
    assert answer.status_code == 200 and answer.headers["X-Request-Id"] == "after-kill-1"
    plane.stop()
    lines = plane.log.read_text().splitlines()
    assert lines and all(TEXT_LINE.match(line) for line in lines), "one text format, uvicorn's lines included"
    assert any(line.endswith(" request_id=after-kill-1") and "GET /v1/regions 200" in line for line in lines)


def test_json_logs_carry_request_ids(plane: ControlPlane) -> None:
    plane.serve_args = ("--log-format", "json")
    plane.start()
    with plane.client(plane.admin_token) as admin:
        given = admin.get("/v1/regions", headers={"X-Request-Id": "req-42"})
        made = admin.get("/v1/projects/acme/services/missing")
        unsafe = admin.get("/v1/regions", headers={"X-Request-Id": "two words\tand a tab"})
        with httpx.Client(base_url=plane.url) as anonymous:
            unauthorized = anonymous.get("/v1/regions")
    assert given.headers["X-Request-Id"] == "req-42"
    assert made.status_code == 404 and re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"])
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-Id"]), "an id unsafe to log is replaced"
    assert unauthorized.status_code == 401 and unauthorized.headers["X-Request-Id"]
    plane.stop()
    records = [json.loads(line) for line in plane.log.read_text().splitlines()]  # every line is JSON
    assert all(set(record) >= {"time", "level", "logger", "message"} for record in records)
    access = {record.get("request_id"): record for record in records if record["logger"] == "controlplane.api.access"}
    assert access["req-42"]["message"].startswith("GET /v1/regions 200 ")
    assert access[made.headers["X-Request-Id"]]["message"].startswith("GET /v1/projects/acme/services/missing 404 ")
    assert access[unsafe.headers["X-Request-Id"]]["message"].startswith("GET /v1/regions 200 ")
    assert access[unauthorized.headers["X-Request-Id"]]["message"].startswith("GET /v1/regions 401 ")
    assert any(record["logger"] == "uvicorn.error" for record in records), "uvicorn's lines in the same format"
    assert not [record for record in records if record["logger"].startswith("alembic")], "no migration noise"
