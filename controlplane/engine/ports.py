"""Loopback TCP ports for the services the control plane runs on this machine."""

from __future__ import annotations

import socket


def free_loopback_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    The kernel picks it (bind to port 0), so it comes from the ephemeral range and is unlikely to be
    taken again soon; a caller that loses the race sees its server fail to start and may pick again.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
