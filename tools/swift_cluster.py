"""Two independent OpenStack Swift all-in-one clusters on loopback, for tests and for trying Swift regions.

    python -m tools.swift_cluster up --dir .swift     # start swift-east and swift-west, write .swift/dbaas.toml
    python -m tools.swift_cluster down --dir .swift   # stop every process `up` started

Each cluster lives in `<dir>/<region>/`: `etc/` (its swift_dir: server configurations, rings, the proxy's TLS
key), `srv/` (object storage), `log/`, `run/` (pid files), `ca.pem` (the CA that signed the proxy's `localhost`
certificate), `credentials` (S3 access key and secret, AWS shared-credentials format) and `ports.json`. It runs
memcached, the account, container and object servers and a TLS proxy with s3api and tempauth, all as the
`swift` OS user, one process each, each on a loopback port of its own. s3api's `location` is the region's name.
What goes into those files is swift_files.py's.

Swift is Debian's (python3-swift), so its servers run under Debian's /usr/bin/python3; this tool runs in the
project's venv from the repository's root: it needs boto3 (a signed S3 request tells a cluster is ready).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from controlplane.engine.os_user import AccountError, resolve_account
from tools.swift_files import (
    CLEAN_ENV,
    STORAGE_SERVERS,
    SWIFT_PYTHON,
    SWIFT_USER,
    SwiftClusterError,
    build_rings,
    credentials,
    make_certificates,
    proxy_conf,
    read_credentials,
    storage_conf,
    write_atomically,
)

__all__ = ["REGION_NAMES", "Region", "SwiftClusterError", "SwiftRegions", "down", "read_credentials", "s3_client", "up"]

REGION_NAMES = ("swift-east", "swift-west")
MEMCACHED = "/usr/bin/memcached"
PROCESSES = ("memcached", *STORAGE_SERVERS, "proxy")
# What the clusters need from Debian, and the package that brings each.
_REQUIRED = {
    SWIFT_PYTHON: "python3",
    MEMCACHED: "memcached",
    "/etc/swift/swift.conf": "swift",
    **{f"/usr/bin/swift-{server}-server": f"swift-{server}" for server in (*STORAGE_SERVERS, "proxy")},
}
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Region:
    """One cluster as the control plane sees it: an S3 region."""

    name: str
    endpoint: str
    region: str
    ca_file: Path
    credentials_file: Path

    def toml(self) -> str:
        """This region's `[[regions]]` entry of a control-plane configuration."""
        return (
            f"[[regions]]\nname = {_toml_string(self.name)}\n[regions.s3]\n"
            f"endpoint = {_toml_string(self.endpoint)}\nregion = {_toml_string(self.region)}\n"
            f"ca_file = {_toml_string(str(self.ca_file))}\n"
            f"credentials_file = {_toml_string(str(self.credentials_file))}\n"
        )


@dataclass(frozen=True)
class SwiftRegions:
    """The running clusters, in REGION_NAMES order."""

    regions: tuple[Region, ...]

    def __getitem__(self, name: str) -> Region:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(name)

    def toml(self) -> str:
        """The `[[regions]]` entries of every cluster, as written to dbaas.toml."""
        return "\n".join(region.toml() for region in self.regions)


def _toml_string(value: str) -> str:
    # JSON string escapes are a subset of TOML basic strings'.
    return json.dumps(value)


class Cluster:
    """One all-in-one cluster's files and processes under its own directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = root.name
        self.swift_dir = root / "etc"
        self.devices_dir = root / "srv"
        self.log_dir = root / "log"
        self.run_dir = root / "run"
        self.ca_file = root / "ca.pem"
        self.credentials_file = root / "credentials"
        self.ports_file = root / "ports.json"

    def pid_file(self, process: str) -> Path:
        return self.run_dir / f"{process}.pid"

    def running(self) -> dict[str, int]:
        """The processes of this cluster that are alive, by name."""
        alive: dict[str, int] = {}
        if not self.ports_file.exists():
            return alive
        for process in PROCESSES:
            pid = _read_pid(self.pid_file(process))
            if pid is not None and _is_ours(pid, self._marker(process)):
                alive[process] = pid
        return alive

    def is_up(self) -> bool:
        """Whether every process of this cluster runs."""
        return set(self.running()) == set(PROCESSES)

    def region(self) -> Region:
        """The cluster as a region of the control plane."""
        return Region(
            name=self.name,
            endpoint=f"https://localhost:{self.ports()['proxy']}",
            region=self.name,
            ca_file=self.ca_file.resolve(),
            credentials_file=self.credentials_file.resolve(),
        )

    def _marker(self, process: str) -> str:
        """The process's whole command line, which tells it apart from any other process."""
        return "\x00".join(self._command(process)) + "\x00"

    def _command(self, process: str) -> list[str]:
        if process == "memcached":
            port = str(self.ports()["memcached"])
            return [MEMCACHED, "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "16", "-t", "1"]
        # Verbose: the server logs to its standard error, which is the log file (there is no syslog here).
        return [SWIFT_PYTHON, f"/usr/bin/swift-{process}-server", str(self._conf(process)), "-v"]

    def _conf(self, process: str) -> Path:
        return self.swift_dir / f"{process}-server.conf"

    def ports(self) -> dict[str, int]:
        """The port of each process, as the last `prepare()` chose them."""
        ports: dict[str, int] = json.loads(self.ports_file.read_text())
        return ports

    def prepare(self, swift: pwd.struct_passwd, taken: set[int]) -> None:
        """Write everything a start needs but the rings: directories, certificates (once), configurations
        with ports not in `taken` (added to it) and a new password, and the credentials file."""
        self.root.mkdir(exist_ok=True)
        self.root.chmod(0o711)  # the postgres account (pgBackRest) reads ca.pem
        cache_dir = self.root / "cache"
        for directory in (self.swift_dir, self.devices_dir, self.devices_dir / "d1", self.log_dir, cache_dir):
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, swift.pw_uid, swift.pw_gid)
        self.swift_dir.chmod(0o700)
        self.run_dir.mkdir(exist_ok=True)
        if not self.ca_file.exists() or not (self.swift_dir / "server.key").exists():
            make_certificates(self.ca_file, self.swift_dir, swift)
        ports = _choose_ports(self.ports_file, taken)
        write_atomically(self.ports_file, json.dumps(ports) + "\n", mode=0o644)
        password = secrets.token_urlsafe(24)
        for server in STORAGE_SERVERS:
            text = storage_conf(
                name=self.name,
                server=server,
                port=ports[server],
                swift_dir=self.swift_dir,
                devices_dir=self.devices_dir,
                cache_dir=cache_dir,
            )
            self._write_conf(server, text, swift)
        self._write_conf(
            "proxy", proxy_conf(name=self.name, ports=ports, swift_dir=self.swift_dir, password=password), swift
        )
        write_atomically(self.credentials_file, credentials(password))

    def _write_conf(self, process: str, text: str, swift: pwd.struct_passwd) -> None:
        path = self._conf(process)
        write_atomically(path, text)
        os.chown(path, swift.pw_uid, swift.pw_gid)

    def start(self, swift: pwd.struct_passwd) -> None:
        """Start memcached, the storage servers and the proxy (rings and configurations must exist)."""
        for process in PROCESSES:
            log = os.open(self.log_dir / f"{process}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
            try:
                os.fchown(log, swift.pw_uid, swift.pw_gid)
                child = subprocess.Popen(
                    self._command(process),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=self.root,
                    env={**CLEAN_ENV, "HOME": swift.pw_dir},
                    user=swift.pw_uid,
                    group=swift.pw_gid,
                    extra_groups=[],
                    # The cluster outlives this command (make swift-up returns); `down` stops it by pid file.
                    start_new_session=True,
                )
            finally:
                os.close(log)
            write_atomically(self.pid_file(process), f"{child.pid}\n", mode=0o644)

    def wait_ready(self, deadline: float) -> None:
        """Wait until the proxy answers a signed S3 ListBuckets; fail early if a process died."""
        region = self.region()
        while True:
            dead = [process for process in PROCESSES if process not in self.running()]
            if dead:
                raise SwiftClusterError(f"{self.name}: {', '.join(dead)} exited at start; {self._log_tails(dead)}")
            error = _list_buckets_error(region)
            if error is None:
                return
            if time.monotonic() > deadline:
                raise SwiftClusterError(
                    f"{self.name}: the proxy at {region.endpoint} did not answer a signed ListBuckets within "
                    f"{READY_TIMEOUT:.0f} s ({error}); {self._log_tails(['proxy'])}"
                )
            time.sleep(0.1)

    def _log_tails(self, processes: Iterable[str]) -> str:
        tails = []
        for process in processes:
            path = self.log_dir / f"{process}.log"
            lines = path.read_text(errors="replace").splitlines()[-15:] if path.exists() else []
            tails.append(f"{path}:\n" + "\n".join(lines))
        return "\n".join(tails)

    def stop(self) -> None:
        """Stop every process of this cluster (SIGTERM, then SIGKILL after STOP_TIMEOUT); idempotent."""
        running = self.running()
        for pid in running.values():
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while (left := [pid for pid in running.values() if _alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left:
            _signal(pid, signal.SIGKILL)
        while any(_alive(pid) for pid in left):
            time.sleep(0.05)
        for process in PROCESSES:
            self.pid_file(process).unlink(missing_ok=True)


def _choose_ports(ports_file: Path, taken: set[int]) -> dict[str, int]:
    """The previous start's ports when they are all free (a configuration keeps working), else new ones."""
    try:
        previous: dict[str, int] = json.loads(ports_file.read_text())
    except (OSError, ValueError):
        previous = {}
    if set(previous) == set(PROCESSES) and all(p not in taken and _port_free(p) for p in previous.values()):
        taken.update(previous.values())
        return previous
    ports = {}
    for process in PROCESSES:
        while (port := _free_port()) in taken:
            pass
        taken.add(port)
        ports[process] = port
    return ports


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers bind: a port whose last connections wait in TIME_WAIT is free to them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def s3_client(region: Region, *, attempts: int = 3) -> Any:
    """A boto3 S3 client of the region, as pgBackRest reaches it: path-style URIs, its CA, its credentials."""
    key, secret = read_credentials(region.credentials_file)
    return boto3.client(
        "s3",
        endpoint_url=region.endpoint,
        region_name=region.region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        verify=str(region.ca_file),
        config=botocore.config.Config(
            s3={"addressing_style": "path"},
            retries={"total_max_attempts": attempts},
            # Swift 2.30's s3api refuses the aws-chunked uploads boto3 >= 1.36 makes to send checksums.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=5,
            read_timeout=30,
        ),
    )


def _list_buckets_error(region: Region) -> str | None:
    """Why a signed ListBuckets fails (None when it succeeds)."""
    try:
        s3_client(region, attempts=1).list_buckets()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        return str(exc)
    return None


def up(base: Path) -> SwiftRegions:
    """Start both clusters under `base` (those already running are left as they are); write base/dbaas.toml."""
    missing = [f"{path} (Debian package {package})" for path, package in _REQUIRED.items() if not Path(path).exists()]
    if missing:
        raise SwiftClusterError(f"Swift is not installed: missing {', '.join(missing)}")
    if os.geteuid() != 0:
        raise SwiftClusterError(f"run as root: the clusters run as the OS user {SWIFT_USER!r}")
    try:
        swift = pwd.getpwnam(SWIFT_USER)
        # The servers read their files below `base` (made 0711 below): every directory above must let them through.
        resolve_account(SWIFT_USER).make_reachable_parent(base)
    except KeyError:
        raise SwiftClusterError(
            f"the OS user {SWIFT_USER!r} does not exist: install the Debian package swift"
        ) from None
    except AccountError as exc:
        raise SwiftClusterError(f"--dir {base}: {exc}") from None
    base.mkdir(exist_ok=True)
    base.chmod(0o711)  # the postgres account (pgBackRest) reads each cluster's ca.pem
    clusters = [Cluster(base / name) for name in REGION_NAMES]
    to_start = [cluster for cluster in clusters if not cluster.is_up()]
    taken = {port for cluster in clusters if cluster not in to_start for port in cluster.ports().values()}
    try:
        for cluster in to_start:
            cluster.stop()
            cluster.prepare(swift, taken)
        if to_start:
            storage_ports = {
                cluster.swift_dir: {server: cluster.ports()[server] for server in STORAGE_SERVERS}
                for cluster in to_start
            }
            build_rings(storage_ports, swift)
        for cluster in to_start:
            cluster.start(swift)
        deadline = time.monotonic() + READY_TIMEOUT
        for cluster in to_start:
            cluster.wait_ready(deadline)
    except BaseException:
        for cluster in to_start:
            cluster.stop()
        raise
    regions = SwiftRegions(tuple(cluster.region() for cluster in clusters))
    write_atomically(base / "dbaas.toml", regions.toml(), mode=0o644)
    return regions


def down(base: Path) -> None:
    """Stop every process `up` started under `base`; nothing running is fine."""
    for name in REGION_NAMES:
        if (base / name).is_dir():
            Cluster(base / name).stop()


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def _is_ours(pid: int, marker: str) -> bool:
    """Whether `pid` is alive and still the process we started (a pid may be reused after a reboot)."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return marker in command_line and _alive(pid)


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie child of ours is reaped and counts as gone."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, signum: signal.Signals) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down"))
    parser.add_argument("--dir", type=Path, default=Path(".swift"), help="where the clusters live (default .swift)")
    args = parser.parse_args(argv)
    base: Path = args.dir.resolve()
    try:
        if args.command == "down":
            down(base)
            print(f"Swift clusters under {base} stopped")
            return 0
        already_up = [name for name in REGION_NAMES if Cluster(base / name).is_up()]
        regions = up(base)
    except SwiftClusterError as exc:
        print(f"swift_cluster: {exc}", file=sys.stderr)
        return 1
    for region in regions.regions:
        state = "already running" if region.name in already_up else "started"
        print(f"{region.name} {state}: {region.endpoint} (CA {region.ca_file}, credentials {region.credentials_file})")
    print(f"control-plane configuration: {base / 'dbaas.toml'} (dbaas-cp serve --config {base / 'dbaas.toml'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
