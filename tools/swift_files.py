"""What a Swift all-in-one cluster of tools/swift_cluster.py is made of on disk: server configurations, the
proxy's TLS certificate and the rings. No process of the cluster is started here.

Every server runs as one process (`workers = 0`) on 127.0.0.1; the storage servers share one device, `d1`,
in a plain directory (`mount_check = false`), and the rings have that one device and one replica.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
from collections.abc import Mapping
from pathlib import Path

SWIFT_USER = "swift"
# Debian's Python, for which python3-swift is installed (the servers' own shebang): never the project's venv.
SWIFT_PYTHON = "/usr/bin/python3"
STORAGE_SERVERS = ("account", "container", "object")
# tempauth's account and user: the S3 access key is "account:user", the secret its password.
S3_ACCOUNT, S3_USER = "dbaas", "admin"
# One device, one replica: 2**8 partitions are plenty for a test cluster and build in milliseconds.
RING_PART_POWER = 8
CLEAN_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

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
    """A cluster could not be set up, started or stopped; the message says which and why."""


def storage_conf(*, name: str, server: str, port: int, swift_dir: Path, devices_dir: Path, cache_dir: Path) -> str:
    """The configuration of the account, container or object `server` of cluster `name`."""
    return f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {port}
# One process, no forked workers: the pid file names the server itself.
workers = 0
user = {SWIFT_USER}
swift_dir = {swift_dir}
devices = {devices_dir}
mount_check = false
disable_fallocate = true
recon_cache_path = {cache_dir}
log_name = {name}-{server}

[pipeline:main]
pipeline = {server}-server

[app:{server}-server]
use = egg:swift#{server}

[{server}-replicator]

[{server}-auditor]
"""


def proxy_conf(*, name: str, ports: Mapping[str, int], swift_dir: Path, password: str) -> str:
    """The proxy of cluster `name`: TLS, the S3 API (its location is `name`) and one tempauth admin user."""
    return f"""[DEFAULT]
bind_ip = 127.0.0.1
bind_port = {ports["proxy"]}
workers = 0
user = {SWIFT_USER}
swift_dir = {swift_dir}
# pgBackRest speaks only TLS to S3, and checks the certificate's DNS name: it is made for localhost.
cert_file = {swift_dir / "server.pem"}
key_file = {swift_dir / "server.key"}
log_name = {name}-proxy

[pipeline:main]
# s3api before tempauth (which checks its signatures); slo after them (S3 multipart uploads).
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo \
proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = {name}

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


def credentials(password: str) -> str:
    """The S3 access key and secret in the AWS shared-credentials format."""
    return f"[default]\naws_access_key_id = {S3_ACCOUNT}:{S3_USER}\naws_secret_access_key = {password}\n"


def read_credentials(path: Path) -> tuple[str, str]:
    """The access key and secret of a credentials file written by `credentials()`."""
    values = dict(
        line.split(" = ", 1) for line in path.read_text().splitlines() if " = " in line and not line.startswith("[")
    )
    return values["aws_access_key_id"], values["aws_secret_access_key"]


def make_certificates(ca_file: Path, swift_dir: Path, swift: pwd.struct_passwd) -> None:
    """A self-signed CA (its key is thrown away once it has signed) and the proxy's `localhost` certificate
    and key in `swift_dir`, readable by the swift account only; `ca_file` is for everyone."""
    ca_key, csr, extensions = swift_dir / "ca.key", swift_dir / "server.csr", swift_dir / "server.ext"
    server_key, server_cert = swift_dir / "server.key", swift_dir / "server.pem"
    extensions.write_text(
        "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try:
        run(["openssl", "req", "-x509", *ec, "-keyout", str(ca_key), "-out", str(ca_file), "-days", "3650",
             "-subj", f"/CN=dbaas {swift_dir.parent.name} test CA"])  # fmt: skip
        run(["openssl", "req", *ec, "-keyout", str(server_key), "-out", str(csr), "-subj", "/CN=localhost"])
        run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_file), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "825", "-extfile", str(extensions), "-out", str(server_cert)])  # fmt: skip
    finally:
        for leftover in (ca_key, csr, extensions, ca_file.with_suffix(".srl")):
            leftover.unlink(missing_ok=True)
    ca_file.chmod(0o644)
    for path in (server_key, server_cert):
        path.chmod(0o600)
        os.chown(path, swift.pw_uid, swift.pw_gid)


def build_rings(storage_ports: Mapping[Path, Mapping[str, int]], swift: pwd.struct_passwd) -> None:
    """The account, container and object rings of each swift_dir given with its storage servers' ports, all
    in one Python process (importing swift takes most of the time)."""
    specs = [
        {"swift_dir": str(swift_dir), "part_power": RING_PART_POWER, "ports": dict(ports)}
        for swift_dir, ports in storage_ports.items()
    ]
    run([SWIFT_PYTHON, "-c", _RING_BUILDER], stdin=json.dumps(specs), user=swift)


def write_atomically(path: Path, text: str, *, mode: int = 0o600) -> None:
    """Write a file whole or not at all (a crash leaves the previous version)."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, mode)
        file.write(text)
    temporary.replace(path)


def run(argv: list[str], *, stdin: str | None = None, user: pwd.struct_passwd | None = None) -> None:
    """Run a setup command (as `user` when given); its standard error is the error's message."""
    result = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        env={**CLEAN_ENV, "HOME": user.pw_dir} if user else None,
        user=user.pw_uid if user else None,
        group=user.pw_gid if user else None,
        extra_groups=[] if user else None,
    )
    if result.returncode != 0:
        raise SwiftClusterError(f"{argv[0]} failed (exit {result.returncode}): {result.stderr.strip()}")
