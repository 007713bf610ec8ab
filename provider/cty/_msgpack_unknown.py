"""Unknown values in go-cty's msgpack encoding (mirrors cty/msgpack/unknown.go).

Contract (private to provider.cty):
- An unrefined unknown is written as ext type 0 with one zero byte: `d4 00 00`.
- A refined unknown is ext type 12 whose payload is a msgpack map from small integer keys
  (1 nullness, 2 string prefix, 3/4 number lower/upper bound as [number, inclusive],
  5/6 collection length lower/upper bound) to values; go-cty writes only the refinements that
  apply to the type and differ from the defaults, keys in that order.
- Reading accepts any extension: length <= 1 is an unrefined unknown whatever its type code;
  otherwise it must be type 12 and at most 1024 bytes. Refinements are applied one by one with
  go-cty's RefinementBuilder rules, including its quirks (unknown keys are skipped without
  consuming their value; bytes after the map are ignored; a dynamic unknown ignores them all).
"""

from __future__ import annotations

from ._msgpack_io import Reader, ext_header, is_ext, is_map, new_packer, read_int64, read_str_bytes
from ._numbers import INT64_MAX, msgpack_form
from ._strings import from_go_bytes, go_bytes, nfc, safe_known_prefix
from .errors import CtyError
from .types import BOOL, NUMBER, STRING, DynamicPseudoType, Tuple, Type, is_collection
from .values import UNKNOWN, Refinements, Unknown, refine

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    from ._msgpack_io import Packer

    DecodeValue: TypeAlias = Callable[[Reader, Type], Any]

__all__ = ["decode_unknown", "encode_unknown", "refined_ext", "refinements_value"]

EXT_UNKNOWN = 0x00  # unknown with no refinements
EXT_REFINED = 0x0C  # unknown whose payload is a map of refinements
MAX_PAYLOAD = 1024  # go-cty rejects larger refinement blobs
MAX_PREFIX_BYTES = 256  # go-cty truncates longer string-prefix refinements when encoding
K_NULLNESS, K_PREFIX, K_NUM_MIN, K_NUM_MAX, K_LEN_MIN, K_LEN_MAX = 1, 2, 3, 4, 5, 6
BOUND_TYPE = Tuple((NUMBER, BOOL))
_BODY = "failed to decode msgpack extension body: "

# ---- writing -----------------------------------------------------------------------------


def _truncated_prefix(prefix: str) -> str:
    raw = go_bytes(prefix)
    if len(raw) <= MAX_PREFIX_BYTES:
        return prefix
    # go-cty keeps the first 255 bytes and then drops the last (possibly partial) grapheme
    # cluster; we first back off to a character boundary so we never emit split UTF-8.
    cut = MAX_PREFIX_BYTES - 1
    while cut > 0 and raw[cut] & 0xC0 == 0x80:
        cut -= 1
    return safe_known_prefix(from_go_bytes(raw[:cut]))


def _payload(r: Refinements, t: Type) -> bytes | None:
    body = new_packer()
    count = 0

    def entry(key: int, value: Any) -> None:
        nonlocal count
        body.pack(key)
        body.pack(value)
        count += 1

    if r.not_null:
        entry(K_NULLNESS, False)
    if t == NUMBER:
        for key, bound in ((K_NUM_MIN, r.number_lower), (K_NUM_MAX, r.number_upper)):
            if bound is not None:
                entry(key, [msgpack_form(bound[0]), bound[1]])
    elif t == STRING:
        if r.string_prefix:
            entry(K_PREFIX, _truncated_prefix(r.string_prefix))
    elif is_collection(t):
        for key, n in ((K_LEN_MIN, r.length_lower), (K_LEN_MAX, r.length_upper)):
            if n is not None:
                entry(key, n)
    if count == 0:
        return None
    head = new_packer()
    head.pack_map_header(count)
    return bytes(head.bytes()) + bytes(body.bytes())


def refined_ext(r: Refinements) -> Any:
    """The msgpack.ExtType go-cty writes for an unknown with these canonical refinements.

    Canonical refinements (values.refine) only carry what applies to their value's type, so
    they alone determine the payload: the same bytes as _payload(r, t) for that type.
    """
    import msgpack  # type: ignore[import-untyped]

    entries: dict[int, Any] = {}
    if r.not_null:
        entries[K_NULLNESS] = False
    if r.number_lower is not None:
        entries[K_NUM_MIN] = [msgpack_form(r.number_lower[0]), r.number_lower[1]]
    if r.number_upper is not None:
        entries[K_NUM_MAX] = [msgpack_form(r.number_upper[0]), r.number_upper[1]]
    if r.string_prefix:
        entries[K_PREFIX] = _truncated_prefix(r.string_prefix)
    if r.length_lower is not None:
        entries[K_LEN_MIN] = r.length_lower
    if r.length_upper is not None:
        entries[K_LEN_MAX] = r.length_upper
    if not entries:
        return msgpack.ExtType(EXT_UNKNOWN, b"\x00")
    payload = msgpack.packb(entries, use_bin_type=True, unicode_errors="surrogateescape")
    return msgpack.ExtType(EXT_REFINED, payload)


def encode_unknown(p: Packer, v: Unknown, t: Type) -> None:
    """Write a canonical unknown value of type t."""
    payload = None
    if v.refinements is not None and not isinstance(t, DynamicPseudoType):
        payload = _payload(v.refinements, t)
    if payload is None:
        p.pack_ext_type(EXT_UNKNOWN, b"\x00")  # d4 00 00
    else:
        p.pack_ext_type(EXT_REFINED, payload)


# ---- reading -----------------------------------------------------------------------------


class _Builder:
    """Applies refinements one at a time with go-cty's RefinementBuilder rules."""

    def __init__(self) -> None:
        self.null: bool | None = None
        self.prefix = ""
        self.lower: tuple[Any, bool] | None = None
        self.upper: tuple[Any, bool] | None = None
        self.min_len, self.max_len = 0, INT64_MAX

    def set_null(self, is_null: bool) -> None:
        if self.null is not None and self.null != is_null:
            raise CtyError("conflicting nullness refinements")
        self.null = is_null

    def set_prefix(self, prefix: str) -> None:
        prefix = nfc(prefix)
        new, have = go_bytes(prefix), go_bytes(self.prefix)
        m = min(len(new), len(have))
        if new[:m] != have[:m]:
            raise CtyError("refined prefix is inconsistent with previous refined prefix")
        if len(new) > len(have):
            self.prefix = prefix

    def set_bound(self, upper: bool, value: Any, inc: bool) -> None:
        cur = self.upper if upper else self.lower
        if cur is not None:
            strict = inc and not cur[1]
            if upper:
                tighter = value < cur[0] if strict else value <= cur[0]
            else:
                tighter = value > cur[0] if strict else value >= cur[0]
            if not tighter:
                return  # the existing refinement is more constrained
        if upper:
            self.upper = (value, inc)
        else:
            self.lower = (value, inc)
        lo, hi = self.lower, self.upper
        if lo is not None and hi is not None and not (lo[0] < hi[0] if lo[1] != hi[1] else lo[0] <= hi[0]):
            raise CtyError("number lower bound is greater than upper bound")

    def set_length(self, upper: bool, n: int) -> None:
        if upper:
            self.max_len = min(self.max_len, n)
        else:
            self.min_len = max(self.min_len, n)  # a negative lower bound changes nothing
        if self.max_len < self.min_len:
            raise CtyError("collection length upper bound is less than lower bound")

    def value(self, t: Type) -> Any:
        if self.null:
            return None  # refined as definitely null: go-cty collapses that to a known null
        r = Refinements(
            not_null=self.null is False,
            string_prefix=self.prefix or None,
            number_lower=self.lower,
            number_upper=self.upper,
            length_lower=self.min_len or None,
            length_upper=None if self.max_len == INT64_MAX else self.max_len,
        )
        return refine(t, Unknown(r))


def _read_bound(r: Reader, decode_value: DecodeValue) -> tuple[Any, bool]:
    raw = None if is_ext(r.peek()) else decode_value(r, BOUND_TYPE)
    if not isinstance(raw, list) or any(x is None or isinstance(x, Unknown) for x in raw):
        raise CtyError(_BODY + "bound refinement must be [number, bool] array")
    return raw[0], raw[1]


def _apply(b: _Builder, key: int, sub: Reader, t: Type, decode_value: DecodeValue) -> None:
    if key == K_NULLNESS:
        if sub.peek() not in (0xC0, 0xC2, 0xC3):  # DecodeBool reads nil as false
            raise CtyError(_BODY + "null refinement is not boolean")
        b.set_null(bool(sub.unpack()))
    elif key == K_PREFIX:
        if t != STRING:
            raise CtyError(_BODY + "string prefix refinement for non-string type")
        raw = read_str_bytes(sub, _BODY + "string prefix refinement is not string")
        try:
            b.set_prefix(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise CtyError(_BODY + "string prefix refinement is not valid UTF-8") from None
    elif key in (K_LEN_MIN, K_LEN_MAX):
        if not is_collection(t):
            raise CtyError(_BODY + "length bound refinement for non-collection type")
        b.set_length(key == K_LEN_MAX, read_int64(sub, _BODY + "length bound refinement must be integer"))
    elif key in (K_NUM_MIN, K_NUM_MAX):
        if t != NUMBER:
            raise CtyError(_BODY + "numeric bound refinement for non-number type")
        b.set_bound(key == K_NUM_MAX, *_read_bound(sub, decode_value))
    # Any other key is ignored *without* consuming its value, exactly as go-cty does.


def refinements_value(body: bytes, t: Type, decode_value: DecodeValue) -> Any:
    """The unknown value of type t that a refined-unknown extension payload describes."""
    start = 0
    if is_ext(body[0]):  # vmihailenco's DecodeMapLen skips a leading ext header
        start = ext_header(body, 0)[0] + 1
    if start >= len(body):
        raise CtyError(_BODY + "not a map")
    sub = Reader(body[start:])
    c = sub.peek()
    if c == 0xC0:  # a nil map: no refinements
        count = 0
        sub.skip(1)
    elif is_map(c):
        count = sub.map_header()
    else:
        raise CtyError(_BODY + "not a map")
    if isinstance(t, DynamicPseudoType):
        return UNKNOWN  # go-cty ignores refinements of a dynamic-typed unknown
    b = _Builder()
    for _ in range(count):
        _apply(b, read_int64(sub, _BODY + "non-integer key in map"), sub, t, decode_value)
    return b.value(t)


def decode_unknown(r: Reader, t: Type, decode_value: DecodeValue) -> Any:
    """Read the extension value at the reader's position as an unknown value of type t.

    `decode_value` decodes a nested value (used for number bounds, which go-cty reads
    with its ordinary value decoder).
    """
    data, pos = r.data, r.tell()
    hlen, length = ext_header(data, pos)
    start = pos + hlen + 1
    if start > len(data):
        raise CtyError("extension code is required for unknown value")
    code = data[start - 1]
    if length > 1 and code != EXT_REFINED:
        raise CtyError(f"unsupported extension type 0x{code:02x} with len {length}")
    if length > MAX_PAYLOAD:
        raise CtyError("oversize unknown value refinement")
    r.skip(hlen + 1 + length)
    if length <= 1:  # one byte is the canonical "no refinements" body
        return UNKNOWN
    return refinements_value(data[start : start + length], t, decode_value)
