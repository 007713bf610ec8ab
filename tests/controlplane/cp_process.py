"""The real control plane as a process (`dbaas-cp serve`), spoken to over real HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from controlplane.engine.ports import free_loopback_port
from controlplane.engine.postgres import Postgres
from controlplane.settings import load_settings
from tests.plugin_process import REPO


def unprivileged_reachable_dir(prefix: str) -> Path:
    """A scratch directory the database user can traverse (pytest's tmp dirs are root-only)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


class ControlPlane:
    def __init__(self, data_dir: Path, config: Path | None = None, serve_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.config = config
        self.serve_args = serve_args
        self.port = free_loopback_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "control-plane.log"

    def _command(self, *args: str) -> list[str]:
        command = [sys.executable, "-m", "controlplane.cli", *args, "--data-dir", str(self.data_dir)]
        return command + (["--config", str(self.config)] if self.config else [])

    def start(self, timeout: float = 60) -> ControlPlane:
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            self._command("serve", "--listen", f"127.0.0.1:{self.port}", *self.serve_args),
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"control plane did not start:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """kill -9: no cleanup of any kind."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=30)

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    def run(self, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """A `dbaas-cp` command on this control plane's data directory (and config), as an operator runs it."""
        return subprocess.run(
            self._command(*args),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
        )

    def create_token(self, project: str, description: str = "") -> str:
        result = self.run("token", "create", "--project", project, "--description", description)
        if result.returncode != 0:
            raise RuntimeError(f"token create failed: {result.stderr}")
        return result.stdout.strip()

    def client(self, token: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def wait_for_state(client: httpx.Client, path: str, states: set[str], timeout: float = 120) -> dict[str, Any]:
    """Poll a service until its state is one of `states`; fail fast on FAILED."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        body: dict[str, Any] = response.json()
        if response.status_code == 200 and body["state"] in states:
            return body
        if response.status_code == 200 and body["state"] == "FAILED" and "FAILED" not in states:
            raise AssertionError(f"{path} FAILED: {body['state_message']}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not reach {states}: {response.status_code} {body}")
        time.sleep(0.1)


def wait_for_gone(client: httpx.Client, path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while client.get(path).status_code != 404:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still exists")
        time.sleep(0.1)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def stop_leftover_servers(data_dir: Path, config: Path | None = None) -> None:
    """Services outlive the control plane by design; a test run must not leave them behind."""
    from controlplane.bootstrap import stop_service_servers
    from controlplane.settings import load_settings

    stop_service_servers(load_settings(data_dir, None, config), mode="immediate")


def operator_driver(plane: ControlPlane, service: dict[str, Any]) -> Postgres:
    """The engine's driver of a service's server, for a test acting as the operator (peer login as its
    superuser), where no tenant may: switching WAL, turning back the clock on a cluster's roles."""
    settings = load_settings(plane.data_dir, None, plane.config)
    region = settings.region(service["cloud"])
    assert region is not None
    data_dir = region.services_dir / service["project"] / service["name"]
    return Postgres(data_dir, port=service["port"], bin_dir=settings.postgres_bin, os_user=settings.os_user)
