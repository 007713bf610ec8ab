"""Two independent OpenStack Swift all-in-one clusters on loopback, for tests and for trying Swift regions.

    python tools/swift_cluster.py up --dir .swift     # start swift-east and swift-west, write .swift/dbaas.toml
    python tools/swift_cluster.py down --dir .swift   # stop every process `up` started

Each cluster lives in `<dir>/<region>/`: `etc/` (its swift_dir: server configurations, rings, the proxy's TLS
key), `srv/` (object storage), `log/`, `run/` (pid files), `ca.pem` (the CA that signed the proxy's `localhost`
certificate), `credentials` (S3 access key and secret, AWS shared-credentials format) and `ports.json`. It runs
memcached, the account, container and object servers and a TLS proxy with s3api and tempauth, all as the
`swift` OS user, one process each, each on a loopback port of its own. s3api's `location` is the region's name.

Swift is Debian's (python3-swift), so its servers run under Debian's /usr/bin/python3, never the project's
venv; this tool runs in the venv: it needs boto3 (a signed S3 request tells a cluster is ready) and openssl
(certificates).
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

REGION_NAMES = ("swift-east", "swift-west")
SWIFT_USER = "swift"
# Debian's Python, for which python3-swift is installed (the servers' own shebang).
SWIFT_PYTHON = "/usr/bin/python3"
MEMCACHED = "/usr/bin/memcached"
STORAGE_SERVERS = ("account", "container", "object")
PROCESSES = ("memcached", *STORAGE_SERVERS, "proxy")
# tempauth's account and user: the S3 access key is "account:user", the secret its password.
S3_ACCOUNT, S3_USER = "dbaas", "admin"
# A one-device, one-replica ring: 2**8 partitions are plenty for a test cluster and build in milliseconds.
RING_PART_POWER = 8
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

_RING_BUILDER = """
import json, sys
from swift.common.ring import RingBuilder
for spec in json.load(sys.stdin):
    for kind, port in spec["ports"].items():
        builder = RingBuilder(spec["part_power"], 1, 1)
        builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "d1",
                         "weight": 100.0})
        builder.rebalance()
        builder.get_ring().save(spec["swift_dir"] + "/" + kind + ".ring.gz")
"""


class SwiftClusterError(Exception):
    """A cluster could not be started or stopped; the message says which and why."""


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
        ports = json.loads(self.ports_file.read_text())
        return Region(
            name=self.name,
            endpoint=f"https://localhost:{ports['proxy']}",
            region=self.name,
            ca_file=self.ca_file.resolve(),
            credentials_file=self.credentials_file.resolve(),
        )

    def _marker(self, process: str) -> str:
        """The process's whole command line, which tells it apart from any other process."""
        return "\x00".join(self._command(process)) + "\x00"

    def _command(self, process: str) -> list[str]:
        if process == "memcached":
            port = str(self._ports()["memcached"])
            return [MEMCACHED, "-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "16", "-t", "1"]
        # Verbose: the server logs to its standard error, which is the log file (there is no syslog here).
        return [SWIFT_PYTHON, f"/usr/bin/swift-{process}-server", str(self._conf(process)), "-v"]

    def _conf(self, process: str) -> Path:
        return self.swift_dir / f"{process}-server.conf"

    def _ports(self) -> dict[str, int]:
        ports: dict[str, int] = json.loads(self.ports_file.read_text())
        return ports

    def prepare(self, swift: pwd.struct_passwd, taken: set[int]) -> dict[str, int]:
        """Write everything a start needs except the rings; return the ports the processes will listen on."""
        for directory in (self.swift_dir, self.devices_dir / "d1", self.log_dir, self.root / "cache"):
            directory.mkdir(parents=True, exist_ok=True)
            os.chown(directory, swift.pw_uid, swift.pw_gid)
        self.swift_dir.chmod(0o700)
        self.run_dir.mkdir(exist_ok=True)
        if not self.ca_file.exists() or not (self.swift_dir / "server.key").exists():
            _make_certificates(self.ca_file, self.swift_dir, swift)
        ports = _choose_ports(self.ports_file, taken)
        _write_private(self.ports_file, json.dumps(ports) + "\n", mode=0o644)
        password = secrets.token_urlsafe(24)
        for server in STORAGE_SERVERS:
            self._write_conf(server, _storage_conf(self, server, ports[server]), swift)
        self._write_conf("proxy", _proxy_conf(self, ports, password), swift)
        _write_private(
            self.credentials_file,
            f"[default]\naws_access_key_id = {S3_ACCOUNT}:{S3_USER}\naws_secret_access_key = {password}\n",
        )
        return ports

    def _write_conf(self, process: str, text: str, swift: pwd.struct_passwd) -> None:
        path = self._conf(process)
        _write_private(path, text)
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
                    env={**_CLEAN_ENV, "HOME": swift.pw_dir},
                    user=swift.pw_uid,
                    group=swift.pw_gid,
                    extra_groups=[],
                    # The cluster outlives this command (make swift-up returns); `down` stops it by pid file.
                    start_new_session=True,
                )
            finally:
                os.close(log)
            _write_private(self.pid_file(process), f"{child.pid}\n", mode=0o644)

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


def _storage_conf(cluster: Cluster, server: str, port: int) -> str:
    return f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
# One process, no forked workers: the pid file names the server itself.
workers = 0
user = {SWIFT_USER}
swift_dir = {cluster.swift_dir}
devices = {cluster.devices_dir}
mount_check = false
disable_fallocate = true
recon_cache_path = {cluster.root / "cache"}
log_name = {cluster.name}-{server}

[pipeline:main]
pipeline = {server}-server

[app:{server}-server]
use = egg:swift#{server}

[{server}-replicator]

[{server}-auditor]
"""


def _proxy_conf(cluster: Cluster, ports: dict[str, int], password: str) -> str:
    return f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {ports["proxy"]}
workers = 0
user = {SWIFT_USER}
swift_dir = {cluster.swift_dir}
# pgBackRest speaks only TLS to S3, and checks the certificate's DNS name: it is made for localhost.
cert_file = {cluster.swift_dir / "server.pem"}
key_file = {cluster.swift_dir / "server.key"}
log_name = {cluster.name}-proxy

[pipeline:main]
# s3api before tempauth (which checks its signatures); slo after them (S3 multipart uploads).
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo \
proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = {cluster.name}

[filter:tempauth]
use = egg:swift#tempauth
user_{S3_ACCOUNT}_{S3_USER} = {password} .admin

# tempauth keeps its tokens in memcached: this cluster's own.
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:{ports["memcached"]}

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:copy]
use = egg:swift#copy

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo
"""


def _make_certificates(ca_file: Path, swift_dir: Path, swift: pwd.struct_passwd) -> None:
    """A self-signed CA (its key is thrown away once it has signed) and the proxy's `localhost` certificate."""
    ca_key, csr, extensions = swift_dir / "ca.key", swift_dir / "server.csr", swift_dir / "server.ext"
    server_key, server_cert = swift_dir / "server.key", swift_dir / "server.pem"
    extensions.write_text(
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    name = swift_dir.parent.name
    try:
        _run(["openssl", "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_file), "-days", "3650",
              "-subj", f"/CN=dbaas {name} test CA"])  # fmt: skip
        _run(["openssl", "req", *ec, "-keyout", str(server_key), "-out", str(csr), "-subj", "/CN=localhost"])
        _run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_file), "-CAkey", str(ca_key),
              "-CAcreateserial", "-days", "825", "-extfile", str(extensions), "-out", str(server_cert)])  # fmt: skip
    finally:
        for leftover in (ca_key, csr, extensions, ca_file.with_suffix(".srl")):
            leftover.unlink(missing_ok=True)
    ca_file.chmod(0o644)
    for path in (server_key, server_cert):
        path.chmod(0o600)
        os.chown(path, swift.pw_uid, swift.pw_gid)


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
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _build_rings(clusters: list[Cluster]) -> None:
    """Every cluster's account, container and object rings, in one Python process (importing swift is slow)."""
    specs = [
        {
            "swift_dir": str(cluster.swift_dir),
            "part_power": RING_PART_POWER,
            "ports": {
                server: port
                for server, port in json.loads(cluster.ports_file.read_text()).items()
                if server in STORAGE_SERVERS
            },
        }
        for cluster in clusters
    ]
    swift = pwd.getpwnam(SWIFT_USER)
    _run([SWIFT_PYTHON, "-c", _RING_BUILDER], stdin=json.dumps(specs), user=swift)


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


def read_credentials(path: Path) -> tuple[str, str]:
    """The access key and secret of a credentials file written by `up`."""
    values = dict(
        line.split(" = ", 1) for line in path.read_text().splitlines() if " = " in line and not line.startswith("[")
    )
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def up(base: Path) -> SwiftRegions:
    """Start both clusters under `base` (those already running are left as they are); write base/dbaas.toml."""
    try:
        swift = pwd.getpwnam(SWIFT_USER)
    except KeyError:
        raise SwiftClusterError(
            f"the OS user {SWIFT_USER!r} does not exist: install the Debian package swift"
        ) from None
    base.mkdir(parents=True, exist_ok=True)
    # The postgres account (pgBackRest) reads each cluster's ca.pem.
    base.chmod(0o711)
    clusters = [Cluster(base / name) for name in REGION_NAMES]
    to_start = [cluster for cluster in clusters if not cluster.is_up()]
    taken: set[int] = set()
    for cluster in clusters:
        if cluster not in to_start:
            taken.update(cluster._ports().values())
    try:
        for cluster in to_start:
            cluster.stop()
            cluster.root.mkdir(exist_ok=True)
            cluster.root.chmod(0o711)
            cluster.prepare(swift, taken)
        if to_start:
            _build_rings(to_start)
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
    _write_private(base / "dbaas.toml", regions.toml(), mode=0o644)
    return regions


def down(base: Path) -> None:
    """Stop every process `up` started under `base`; nothing running is fine."""
    for name in REGION_NAMES:
        if (base / name).is_dir():
            Cluster(base / name).stop()


def _write_private(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write a file whole or not at all (a crash leaves the previous version)."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, mode)
        file.write(text)
    temporary.replace(path)


def _run(argv: list[str], *, stdin: str | None = None, user: pwd.struct_passwd | None = None) -> None:
    result = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**_CLEAN_ENV, "HOME": user.pw_dir} if user else None,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
    )
    if result.returncode != 0:
        raise SwiftClusterError(f"{argv[0]} failed (exit {result.returncode}): {result.stderr.strip()}")


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
