"""Mutual TLS the way go-plugin intends, on Python's ssl (OpenSSL).

Terraform's client certificate is ECDSA P-521, which OpenSSL verifies as any other; as in go-plugin
the certificate Terraform announces in PLUGIN_CLIENT_CERT is the only trusted authority, so only
the holder of its private key (Terraform) can connect.
"""

from __future__ import annotations

import os
import ssl

from provider.plugin.identity import ServerIdentity


def server_context(identity: ServerIdentity, client_cert_pem: str) -> ssl.SSLContext:
    """Serve with our identity and accept only Terraform's client certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=client_cert_pem)
    # grpc-go refuses a TLS server that does not select h2 by ALPN.
    context.set_alpn_protocols(["h2"])
    _load_chain_from_memory(context, identity)
    return context


def _load_chain_from_memory(context: ssl.SSLContext, identity: ServerIdentity) -> None:
    # ssl only loads keys from a path; an anonymous memory file gives it one without a disk file.
    fd = os.memfd_create("plugin-identity", os.MFD_CLOEXEC)
    try:
        os.write(fd, identity.cert_pem + identity.key_pem)
        context.load_cert_chain(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
