"""cty number handling: canonical Python forms and go-cty's textual/binary renderings.

Contract (private to provider.cty):
- A canonical number is an int (any integral value), a Decimal (non-integral, exact),
  a float (a non-integral value the caller supplied as a float, or +/-inf).
- go-cty stores numbers as big.Float (512-bit mantissa when parsed from text). We keep
  values exact instead; the two agree for every number with fewer than ~150 significant
  digits. Magnitudes beyond 10**MAX_EXPONENT are rejected to bound memory and time.
- `msgpack_form` mirrors cty/msgpack/marshal.go: int64 -> integer, exactly-a-float64 and
  non-integral -> float64, otherwise the decimal string (big.Float.Text('f', -1)).
"""

from __future__ import annotations

import sys

from .errors import CtyError

# decimal, math and re are imported where needed (see _decimal): integers and floats, by far the
# commonest numbers, never need them, and importing them is a noticeable part of a launch.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from decimal import Decimal
    from re import Pattern
    from typing import Any, TypeAlias

    Number: TypeAlias = int | Decimal | float

__all__ = [
    "MAX_EXPONENT",
    "Number",
    "canonical_number",
    "from_float",
    "go_g10",
    "msgpack_form",
    "number_text",
    "parse_number",
]

MAX_EXPONENT = 10_000
MAX_TEXT_LENGTH = 20_000  # go-cty keeps ~154 significant digits; longer text is not a real number
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INF = float("inf")
# canonical_number rejects integers of more than MAX_EXPONENT * 3.33 bits, i.e. |v| >= _INT_LIMIT.
_INT_LIMIT = 1 << int(MAX_EXPONENT * 3.33)
# parse_number reads short plain integer text with int(); anything else takes the Decimal path
# (which also avoids int()'s limit on the number of digits it converts).
_MAX_INT_TEXT = 4000

# big.Float.Parse with base 10: optional sign, "inf"/"Inf", or a decimal mantissa with an
# optional decimal ("e") or binary ("p") exponent. No underscores, prefixes or spaces.
_NUMBER_PATTERN = r"([+-]?)(?:(inf|Inf)|([0-9]+\.?[0-9]*|\.[0-9]+)(?:([eEpP])([+-]?[0-9]{1,12}))?)\Z"
_number_re: Pattern[str] | None = None
_decimal_module: Any = None


def __getattr__(name: str) -> Any:
    if name == "Number":  # the runtime form of the type alias; building it needs decimal
        return int | _decimal().Decimal | float
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _decimal() -> Any:
    """The decimal module, imported on first use."""
    global _decimal_module
    if _decimal_module is None:
        import decimal

        _decimal_module = decimal
    return _decimal_module


def is_decimal(v: object) -> bool:
    """isinstance(v, Decimal), without importing decimal (no Decimal exists before it is imported)."""
    mod = sys.modules.get("decimal")
    return mod is not None and isinstance(v, mod.Decimal)


def _exact_context() -> Any:
    """An unbounded decimal context, for exact arithmetic."""
    d = _decimal()
    return d.Context(prec=d.MAX_PREC, Emax=d.MAX_EMAX, Emin=d.MIN_EMIN)


def _from_decimal(d: Decimal) -> Number:
    """Canonicalise an exact Decimal: integral values become int."""
    if d.is_nan():
        raise CtyError("NaN is not a valid number")
    if d.is_infinite():
        return INF if d > 0 else -INF
    if not d:
        return 0
    if abs(d.adjusted()) > MAX_EXPONENT:
        raise CtyError("number is out of the supported range")
    if d == d.to_integral_value():
        return int(d)
    return d


def from_float(f: float, *, keep_float: bool) -> Number:
    """Canonicalise a float64.

    Integral values beyond int64 become the integer go-cty would print for them
    (big.Float.Text('f', -1) of a 53-bit float is its shortest round-trip digits).
    Non-integral values stay floats when `keep_float`, else become exact Decimals.
    """
    if f != f:
        raise CtyError("NaN is not a valid number")
    if f == INF or f == -INF:
        return f
    if f.is_integer():
        if INT64_MIN <= f <= INT64_MAX:
            return int(f)
        return int(_decimal().Decimal(repr(f)))
    return f if keep_float else _decimal().Decimal(f)


def canonical_number(v: object) -> Number:
    """Validate a Python number for a cty number slot; raises CtyError otherwise."""
    cls = v.__class__
    if cls is int:
        if -_INT_LIMIT < v < _INT_LIMIT:  # type: ignore[operator]
            return v  # type: ignore[return-value]
        raise CtyError("number is out of the supported range")
    if cls is float:
        return from_float(v, keep_float=True)  # type: ignore[arg-type]
    if isinstance(v, bool):
        raise CtyError("expected number, got bool")
    if isinstance(v, int):
        if v and abs(v).bit_length() > MAX_EXPONENT * 3.33:
            raise CtyError("number is out of the supported range")
        return v
    if isinstance(v, float):
        return from_float(v, keep_float=True)
    if is_decimal(v):
        return _from_decimal(v)  # type: ignore[arg-type]
    raise CtyError(f"expected number, got {type(v).__name__}")


def _binary_exponent(mantissa: Decimal, exp: int) -> Decimal:
    """mantissa * 2**exp, exactly (big.Float accepts 'p' exponents even in base 10)."""
    num, den = mantissa.as_integer_ratio()
    if exp >= 0:
        num <<= exp
    else:
        den <<= -exp
    # den is 2**a * 5**b: scale to a power of ten so the quotient is an exact decimal.
    twos = (den & -den).bit_length() - 1
    fives = 0
    rest = den >> twos
    while rest % 5 == 0:
        rest //= 5
        fives += 1
    k = max(twos, fives)
    num *= 2 ** (k - twos) * 5 ** (k - fives)
    # An unbounded context keeps the scaling exact (the default one rounds to 28 digits).
    result: Decimal = _decimal().Decimal(num).scaleb(-k, context=_exact_context())
    return result


def parse_number(text: str) -> Number:
    """cty.ParseNumberVal: parse decimal text (as big.ParseFloat base 10 accepts it)."""
    n = len(text)
    # The common case, plain decimal integer text (isdigit alone would allow other scripts).
    if 0 < n <= _MAX_INT_TEXT and text.isascii() and (text.isdigit() or (text[0] == "-" and text[1:].isdigit())):
        return int(text)
    if n > MAX_TEXT_LENGTH:
        raise CtyError("number is out of the supported range")
    global _number_re
    if _number_re is None:
        import re

        _number_re = re.compile(_NUMBER_PATTERN)
    m = _number_re.match(text)
    if m is None:
        raise CtyError("a number is required")
    sign, inf, mantissa, exp_kind, exp_digits = m.groups()
    if inf:
        return -INF if sign == "-" else INF
    decimal = _decimal()
    try:
        if exp_kind in ("p", "P"):
            exp = int(exp_digits)
            if abs(exp) > MAX_EXPONENT * 4:
                raise CtyError("number is out of the supported range")
            value = _binary_exponent(decimal.Decimal(mantissa), exp)
            return _from_decimal(-value if sign == "-" else value)
        return _from_decimal(decimal.Decimal(text))
    except decimal.InvalidOperation:
        raise CtyError("number is out of the supported range") from None


def _int_text(n: int) -> str:
    # str(int) is capped by sys.int_info.str_digits_check_threshold; Decimal is not.
    return str(n) if n.bit_length() < 13_000 else format(_decimal().Decimal(n), "f")


def _decimal_text(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def number_text(v: Number) -> str:
    """big.Float.Text('f', -1): the shortest exact decimal, never with an exponent."""
    if isinstance(v, int):
        return _int_text(v)
    if isinstance(v, float):
        if v == INF or v == -INF:
            raise CtyError("cannot serialize infinity as JSON")
        # A 53-bit float prints as its shortest round-trip digits, as repr() does.
        return _decimal_text(_decimal().Decimal(repr(v)))
    return _decimal_text(v)


def msgpack_form(v: Number) -> int | float | str:
    """What go-cty's msgpack marshaller writes for a canonical number."""
    if isinstance(v, int):
        return v if INT64_MIN <= v <= INT64_MAX else _int_text(v)
    if isinstance(v, float):
        return v  # inf, or a non-integral float64
    f = float(v)
    if f != INF and f != -INF and _decimal().Decimal(f) == v:
        return f
    return _decimal_text(v)


def _round_digits(digits: str, dp: int, n: int) -> tuple[str, int]:
    """Round a digit string (no trailing zeros) to n digits like math/big's decimal.round."""
    if len(digits) <= n:
        return digits, dp
    head, nxt, tail = digits[:n], digits[n], digits[n + 1 :]
    if nxt > "5" or (nxt == "5" and (tail or int(head[-1]) % 2 == 1)):
        bumped = str(int(head) + 1)
        if len(bumped) > n:  # 999.. carried into a new leading digit
            dp += 1
        head = bumped
    return head.rstrip("0"), dp


def go_g10(v: Number) -> str:
    """big.Float.String(), i.e. Text('g', 10): the text cty hashes numbers by in sets."""
    if isinstance(v, float) and (v == INF or v == -INF):
        return "+Inf" if v > 0 else "-Inf"
    d: Decimal = v if is_decimal(v) else _decimal().Decimal(v)  # type: ignore[assignment]
    if not d:
        return "0"
    sign, digit_tuple, exp = d.as_tuple()
    assert isinstance(exp, int)
    digits = "".join(map(str, digit_tuple)).lstrip("0")
    dp = len(digits) + exp
    digits, dp = _round_digits(digits.rstrip("0"), dp, 10)
    nd = len(digits)
    eprec = nd if 10 > nd >= dp else 10
    out = "-" if sign else ""
    if dp - 1 < -4 or dp - 1 >= eprec:
        prec = min(10, nd) - 1
        out += digits[0]
        if prec > 0:
            out += "." + digits[1 : prec + 1].ljust(prec, "0")
        e = dp - 1
        return f"{out}e{'-' if e < 0 else '+'}{abs(e):02d}"
    prec = max((nd if dp < 10 else 10) - dp, 0)
    out += digits[:dp].ljust(dp, "0") if dp > 0 else "0"
    if prec > 0:
        out += "." + "".join(digits[dp + i] if 0 <= dp + i < nd else "0" for i in range(prec))
    return out
