"""The plugin's TLS identity, made the way go-plugin makes it.

A fresh self-signed ECDSA certificate is made at every start with the openssl program (about 10 ms,
where importing a Python X.509 library costs several times that on the launch path), started first so
that it runs while the provider imports what it serves with. The private
key never touches a filesystem: it travels through a pipe (and, in tls.py, an anonymous memory file).
"""

from __future__ import annotations

import binascii
import os

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


class ServerIdentity:
    """Our certificate and its private key, PEM (a plain class: this module is imported before openssl starts)."""

    __slots__ = ("cert_pem", "key_pem")

    def __init__(self, cert_pem: bytes, key_pem: bytes) -> None:
        self.cert_pem = cert_pem
        self.key_pem = key_pem

    @property
    def cert_der(self) -> bytes:
        body = self.cert_pem.split(b"-----")[2]
        return binascii.a2b_base64(b"".join(body.split()))


_OPENSSL_ARGS = (
    "openssl", "req", "-x509", "-config", "/dev/stdin", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", "-", "-out", "-", "-days",
)  # fmt: skip


def start_identity(days: int = 10950) -> PendingIdentity:
    """Start making a new ECDSA P-256 key and self-signed certificate; `result()` waits for them.

    openssl is spawned with os.posix_spawnp and two pipes: importing subprocess would cost ~3 ms before it starts.
    """
    config_read, config_write = os.pipe()
    output_read, output_write = os.pipe()
    # Its standard input is our configuration; its output and messages share one pipe, read at the end: if it
    # fails, its messages are there. The pipes' own descriptors are not inherited (os.pipe makes them so).
    actions = [
        (os.POSIX_SPAWN_DUP2, config_read, 0),
        (os.POSIX_SPAWN_DUP2, output_write, 1),
        (os.POSIX_SPAWN_DUP2, output_write, 2),
    ]
    try:
        pid = os.posix_spawnp("openssl", [*_OPENSSL_ARGS, str(days)], os.environ, file_actions=actions)
    except FileNotFoundError as err:
        os.close(config_write)
        os.close(output_read)
        raise TLSSetupError("the openssl program is needed to make the plugin's TLS certificate") from err
    finally:
        os.close(config_read)
        os.close(output_write)
    try:
        with open(config_write, "wb", buffering=0) as config:
            config.write(_REQUEST_CONFIG)  # far less than a pipe holds: never blocks
    except BrokenPipeError:
        pass  # openssl ended without reading it: `result()` reports what it said
    return PendingIdentity(pid, output_read)


class PendingIdentity:
    """openssl at work: the caller does something else meanwhile (openssl runs on another core)."""

    def __init__(self, pid: int, output: int) -> None:
        self._pid = pid
        self._output = output

    def result(self) -> ServerIdentity:
        with open(self._output, "rb") as output_file:
            output = output_file.read()
        _, status = os.waitpid(self._pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
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
