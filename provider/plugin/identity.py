"""The plugin's TLS identity, made the way go-plugin makes it.

A fresh self-signed ECDSA certificate is made at every start with the openssl program (about 10 ms,
where importing a Python X.509 library costs several times that on the launch path). The private
key never touches a filesystem: it travels through a pipe (and, in tls.py, an anonymous memory file).
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ServerIdentity:
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert_der(self) -> bytes:
        body = self.cert_pem.split(b"-----")[2]
        return base64.b64decode(b"".join(body.split()))


def generate_identity(days: int = 10950) -> ServerIdentity:
    """A new ECDSA P-256 key and self-signed certificate, kept in memory."""
    try:
        result = subprocess.run(
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
            input=_REQUEST_CONFIG,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as err:
        raise TLSSetupError("the openssl program is needed to make the plugin's TLS certificate") from err
    if result.returncode != 0:
        raise TLSSetupError(f"openssl could not make a certificate: {result.stderr.decode().strip()}")
    return ServerIdentity(
        cert_pem=_pem_block(result.stdout, b"CERTIFICATE"), key_pem=_pem_block(result.stdout, b"PRIVATE KEY")
    )


def _pem_block(pem: bytes, label: bytes) -> bytes:
    begin = b"-----BEGIN " + label + b"-----"
    end = b"-----END " + label + b"-----"
    start = pem.find(begin)
    stop = pem.find(end, start)
    if start < 0 or stop < 0:
        raise TLSSetupError(f"openssl printed no {label.decode()}")
    return pem[start : stop + len(end)] + b"\n"
