"""The plugin's TLS identity, made the way go-plugin makes it.

A fresh self-signed ECDSA certificate is made at every start with the openssl program (about 10 ms,
where importing a Python X.509 library costs several times that on the launch path), started first so
that it runs while the provider imports what it serves with. The private
key never touches a filesystem: it travels through a pipe (and, in tls.py, an anonymous memory file).
"""

from __future__ import annotations

import binascii
import subprocess
from typing import NamedTuple

# Mirrors go-plugin's generated certificate: a CA for itself, valid for "localhost", for both ends.
_REQUEST_CONFIG = b"""[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
O = HashiCorp
CN = localhost
[ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyEncipherment,keyAgreement,keyCertSign
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:localhost
"""


class TLSSetupError(Exception):
    """The certificate or the TLS context could not be made."""


class ServerIdentity(NamedTuple):
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert_der(self) -> bytes:
        body = self.cert_pem.split(b"-----")[2]
        return binascii.a2b_base64(b"".join(body.split()))


def start_identity(days: int = 10950) -> PendingIdentity:
    """Start making a new ECDSA P-256 key and self-signed certificate; `result()` waits for them."""
    try:
        process = subprocess.Popen(
            [
                "openssl",
                "req",
                "-x509",
                "-config",
                "/dev/stdin",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "-",
                "-out",
                "-",
                "-days",
                str(days),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one pipe, read at the end: its messages, if it fails, are there
        )
    except FileNotFoundError as err:
        raise TLSSetupError("the openssl program is needed to make the plugin's TLS certificate") from err
    assert process.stdin is not None
    with process.stdin:
        process.stdin.write(_REQUEST_CONFIG)  # far less than a pipe holds: never blocks
    return PendingIdentity(process)


class PendingIdentity:
    """openssl at work: the caller does something else meanwhile (openssl runs on another core)."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process

    def result(self) -> ServerIdentity:
        assert self._process.stdout is not None
        with self._process.stdout:
            output = self._process.stdout.read()
        if self._process.wait() != 0:
            raise TLSSetupError(f"openssl could not make a certificate: {output.decode(errors='replace').strip()}")
        return ServerIdentity(cert_pem=_pem_block(output, b"CERTIFICATE"), key_pem=_pem_block(output, b"PRIVATE KEY"))


def _pem_block(pem: bytes, label: bytes) -> bytes:
    begin = b"-----BEGIN " + label + b"-----"
    end = b"-----END " + label + b"-----"
    start = pem.find(begin)
    stop = pem.find(end, start)
    if start < 0 or stop < 0:
        raise TLSSetupError(f"openssl printed no {label.decode()}")
    return pem[start : stop + len(end)] + b"\n"
