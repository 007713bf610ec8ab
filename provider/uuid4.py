"""Random (version 4) UUIDs as text, for request ids and idempotency keys.

Made from os.urandom as RFC 9562 lays them out: the uuid module imports platform and ctypes, several milliseconds
of a provider launch.
"""

from __future__ import annotations

import os


def uuid4() -> str:
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # variant 10
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
