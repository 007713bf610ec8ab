"""String helpers reproducing the Go behaviour go-cty relies on.

Contract (private to provider.cty):
- cty strings are NFC-normalised on entry (cty.StringVal / NormalizeString); `nfc` does the same.
- Go strings may hold invalid UTF-8. We carry such bytes in Python strings as
  surrogate escapes (U+DC80..U+DCFF), so bytes survive a decode/encode round trip.
- `json_quote` matches Go's encoding/json string output (HTML-safe escaping, Go >= 1.22 short
  escapes for \\b and \\f); `go_quote` matches strconv.Quote / fmt "%q", which cty uses for set hashing.
- `safe_known_prefix` approximates ctystrings.SafeKnownPrefix (see its docstring).
"""

from __future__ import annotations

# json and unicodedata are imported where needed: most strings are ASCII and never need them,
# and importing them costs a few milliseconds of every provider launch.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "from_go_bytes",
    "go_bytes",
    "go_quote",
    "json_quote",
    "nfc",
    "safe_known_prefix",
]


_unicodedata: Any = None


def _ucd() -> Any:
    global _unicodedata
    if _unicodedata is None:
        import unicodedata

        _unicodedata = unicodedata
    return _unicodedata


def nfc(s: str) -> str:
    """NFC-normalise like cty.NormalizeString (ASCII is always already normal)."""
    if s.isascii():
        return s
    ucd = _unicodedata or _ucd()
    if ucd.is_normalized("NFC", s):
        return s
    normal: str = ucd.normalize("NFC", s)
    return normal


def go_bytes(s: str) -> bytes:
    """The bytes Go would hold for this string (surrogate escapes become raw bytes)."""
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # Lone surrogates outside the escape range cannot come from Go; keep them encodable.
        return s.encode("utf-8", "surrogatepass")


def from_go_bytes(b: bytes) -> str:
    """Decode Go string bytes, keeping invalid UTF-8 as surrogate escapes."""
    return b.decode("utf-8", "surrogateescape")


_GO_SHORT_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(s: str) -> str:
    """strconv.Quote: Go-syntax double-quoted string (used by cty's set hash bytes)."""
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return f'"{s}"'
    out = ['"']
    for ch in s:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")  # an invalid UTF-8 byte
        elif ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            # Python's notion (not Other/Separator, except ASCII space) matches unicode.IsPrint.
            out.append(ch)
        elif ch in _GO_SHORT_ESCAPES:
            out.append(_GO_SHORT_ESCAPES[ch])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")  # not a valid rune; Go would see RuneError
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


_HTML_UNSAFE = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


def json_quote(s: str) -> str:
    """A JSON string literal exactly as Go's encoding/json.Marshal writes it."""
    if (
        s.isascii()
        and s.isprintable()
        and '"' not in s
        and "\\" not in s
        and "<" not in s
        and ">" not in s
        and "&" not in s
    ):
        return f'"{s}"'  # nothing to escape
    import json

    text = json.dumps(s, ensure_ascii=False).translate(_HTML_UNSAFE)
    if not text.isascii():
        # Go replaces each invalid UTF-8 byte with the escape \ufffd.
        text = "".join("\\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    return text


# Characters that always end a grapheme cluster, per ctystrings.sequenceMustEndGraphemeCluster.
_SAFE_LAST = frozenset("-_:;/\\,.(){}[]|?!~ \t@#$%^&*+\"'")
_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """Approximates Grapheme_Cluster_Break=Extend/SpacingMark/ZWJ (UAX #29)."""
    o = ord(ch)
    return (
        _ucd().category(ch) in ("Mn", "Me", "Mc")
        or ch == _ZWJ
        or 0xFE00 <= o <= 0xFE0F  # variation selectors
        or 0x1F3FB <= o <= 0x1F3FF  # emoji skin-tone modifiers
        or 0xE0020 <= o <= 0xE007F  # emoji tag sequences
    )


def safe_known_prefix(prefix: str) -> str:
    """Drop the last grapheme cluster unless it is a lone always-terminal character.

    go-cty uses full UAX #29 segmentation plus NFC boundary analysis; we approximate
    clusters as a base character plus trailing combining/ZWJ/variation characters
    (joining across ZWJ, regional-indicator pairs and CR LF). This only matters for
    string-prefix refinements longer than 256 bytes, which go-cty truncates.
    """
    prefix = nfc(prefix)
    i = len(prefix)
    if i == 0:
        return prefix
    start = i - 1
    while start > 0 and _extends(prefix[start]):
        start -= 1
    while start > 1 and prefix[start - 1] == _ZWJ:
        start -= 2  # emoji ZWJ sequence: the character before the joiner joins this cluster
        while start > 0 and _extends(prefix[start]):
            start -= 1
    if start > 0 and prefix[start - 1 : start + 1] == "\r\n":
        start -= 1
    if start > 0 and all(0x1F1E6 <= ord(c) <= 0x1F1FF for c in prefix[start - 1 : start + 1]):
        start -= 1  # regional indicator pair (flag)
    last = prefix[start:]
    if len(last) == 1 and last in _SAFE_LAST:
        return prefix
    return prefix[:start]
