"""go-plugin's handshake, as Terraform's plugin client expects it.

Contract: pure functions, no I/O. `check_environment` decides whether we were started by Terraform
and which protocol to serve; `handshake_line` formats the single stdout line that tells Terraform
where to connect:  CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|PROTOCOL|SERVER-CERT
"""

from __future__ import annotations

import binascii  # base64 wraps it and imports re, which this module, read before openssl starts, avoids
from collections.abc import Mapping

# go-plugin's own protocol version (the first field of the line), not Terraform's.
CORE_PROTOCOL_VERSION = 1
# Terraform's HandshakeConfig for providers.
MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
SUPPORTED_PROTOCOL_VERSIONS = (6,)

NOT_A_PROGRAM_MESSAGE = (
    "This is the dbaas provider, a Terraform plugin: it is not run by hand. Declare it in "
    'required_providers (source = "dbaas/dbaas") and Terraform starts it; to debug, run it with --debug.'
)


class HandshakeError(Exception):
    """Terraform's environment does not allow us to serve; the message says why."""


class Handshake:
    """What Terraform's environment asks of this launch (a plain class: read before openssl is started)."""

    __slots__ = ("client_cert_pem", "protocol_version")

    def __init__(self, protocol_version: int, client_cert_pem: str | None) -> None:
        self.protocol_version = protocol_version
        self.client_cert_pem = client_cert_pem  # None: Terraform asked for plaintext (TF_DISABLE_PLUGIN_TLS)


def check_environment(environ: Mapping[str, str]) -> Handshake:
    """Validate the magic cookie and pick the protocol version Terraform and we share."""
    if environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        raise HandshakeError(NOT_A_PROGRAM_MESSAGE)
    return Handshake(
        protocol_version=negotiate_version(environ.get("PLUGIN_PROTOCOL_VERSIONS", "")),
        client_cert_pem=environ.get("PLUGIN_CLIENT_CERT") or None,
    )


def negotiate_version(offered: str) -> int:
    """Highest version both sides speak; Terraform lists its versions comma separated, any order."""
    versions: set[int] = set()
    for item in offered.split(","):
        item = item.strip()
        if item.isdigit():
            versions.add(int(item))
    common = versions.intersection(SUPPORTED_PROTOCOL_VERSIONS)
    if not common:
        raise HandshakeError(
            f"Terraform offers plugin protocol versions {offered or 'none'}, "
            f"this provider speaks {', '.join(map(str, SUPPORTED_PROTOCOL_VERSIONS))}: "
            "use Terraform 1.0 or newer"
        )
    return max(common)


def handshake_line(protocol_version: int, network: str, address: str, server_cert_der: bytes | None) -> str:
    """The line go-plugin's client parses; the certificate is base64 DER without padding."""
    cert = binascii.b2a_base64(server_cert_der, newline=False).decode().rstrip("=") if server_cert_der else ""
    return f"{CORE_PROTOCOL_VERSION}|{protocol_version}|{network}|{address}|grpc|{cert}"
