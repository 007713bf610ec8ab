"""Low-level msgpack reading and writing shared by the cty msgpack codec.

Contract (private to provider.cty): wraps the `msgpack` library so callers can peek at the
next format byte (go-cty dispatches on it, as vmihailenco/msgpack's PeekCode) and so every
library error surfaces as CtyError. Readers mirror vmihailenco/msgpack's Decode* quirks.
"""

from __future__ import annotations

import msgpack  # type: ignore[import-untyped]

from ._numbers import INT64_MAX
from .errors import CtyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    Packer: TypeAlias = Any  # msgpack.Packer; the msgpack package ships no type information

__all__ = [
    "Reader",
    "UnpackError",
    "ext_header",
    "is_array",
    "is_ext",
    "is_int",
    "is_map",
    "is_str",
    "new_packer",
    "read_int64",
    "read_str_bytes",
]

UnpackError = msgpack.UnpackException


def new_packer() -> Packer:
    """A packer writing go-cty's formats (str vs bin, float64, smallest ints)."""
    # surrogateescape: strings carrying invalid UTF-8 bytes (see _strings) are written back raw.
    return msgpack.Packer(use_bin_type=True, autoreset=False, unicode_errors="surrogateescape")


def is_ext(c: int) -> bool:
    return 0xD4 <= c <= 0xD8 or 0xC7 <= c <= 0xC9


def is_str(c: int) -> bool:
    return 0xA0 <= c <= 0xBF or 0xD9 <= c <= 0xDB or 0xC4 <= c <= 0xC6  # str or bin


def is_int(c: int) -> bool:
    return c <= 0x7F or c >= 0xE0 or 0xCC <= c <= 0xD3  # fixints, uint8..64, int8..64


def is_array(c: int) -> bool:
    return 0x90 <= c <= 0x9F or c in (0xDC, 0xDD)


def is_map(c: int) -> bool:
    return 0x80 <= c <= 0x8F or c in (0xDE, 0xDF)


class Reader:
    """A msgpack.Unpacker plus the raw bytes, so we can peek at the next type code."""

    __slots__ = ("data", "up")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.up = msgpack.Unpacker(raw=True, strict_map_key=False, max_buffer_size=max(len(data), 64))
        self.up.feed(data)

    def peek(self) -> int:
        pos = self.up.tell()
        if pos >= len(self.data):
            raise CtyError("unexpected end of msgpack data")
        code: int = self.data[pos]
        return code

    def tell(self) -> int:
        pos: int = self.up.tell()
        return pos

    def call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except msgpack.OutOfData:
            raise CtyError("unexpected end of msgpack data") from None
        except (ValueError, msgpack.UnpackException) as e:
            raise CtyError(f"invalid msgpack data: {e}") from None

    def unpack(self) -> Any:
        return self.call(self.up.unpack)

    def array_header(self) -> int:
        n: int = self.call(self.up.read_array_header)
        return n

    def map_header(self) -> int:
        n: int = self.call(self.up.read_map_header)
        return n

    def skip(self, n: int) -> None:
        if len(self.call(lambda: self.up.read_bytes(n))) != n:
            raise CtyError("unexpected end of msgpack data")


def read_int64(r: Reader, what: str) -> int:
    """vmihailenco DecodeInt64: any integer format, nil reads as 0, uint64 wraps."""
    c = r.peek()
    if c == 0xC0:
        r.skip(1)
        return 0
    if not is_int(c):
        raise CtyError(what)
    n: int = r.unpack()
    return n - (1 << 64) if n > INT64_MAX else n


def read_str_bytes(r: Reader, what: str) -> bytes:
    """vmihailenco DecodeString: str or bin, and nil reads as ""."""
    c = r.peek()
    if c == 0xC0:
        r.skip(1)
        return b""
    if not is_str(c):
        raise CtyError(what)
    b: bytes = r.unpack()
    return b


def ext_header(data: bytes, pos: int) -> tuple[int, int]:
    """(header length excluding the type byte, payload length) of the ext at pos."""
    c = data[pos]
    if 0xD4 <= c <= 0xD8:
        return 1, 1 << (c - 0xD4)
    width = {0xC7: 1, 0xC8: 2, 0xC9: 4}[c]
    if pos + 1 + width > len(data):
        raise CtyError("unexpected end of msgpack data")
    return 1 + width, int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
