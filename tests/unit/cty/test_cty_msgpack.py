"""go-cty msgpack encoding: exact bytes both ways, accepted variants, and errors."""

from __future__ import annotations

import sys
from decimal import Decimal

import pytest

from provider.cty.errors import CtyError, MapKey
from provider.cty.msgpack_codec import decode, encode
from provider.cty.types import BOOL, DYNAMIC, NUMBER, STRING, List, Map, Set, Tuple, object_type
from provider.cty.values import UNKNOWN, DynamicValue, Refinements, Unknown

INF = float("inf")
GREETING_S = object_type({"greeting": STRING})
GREETING_D = object_type({"greeting": DYNAMIC})
AB = object_type({"a": STRING, "b": STRING})
NN = Refinements(not_null=True)

# (type, value, hex): encode(value) == hex and decode(hex) == value.
# Values are the cases of go-cty's cty/msgpack/roundtrip_test.go (TestRoundTrip); go-cty's own
# tests check only round trips, so the bytes are the ones hashicorp/terraform-plugin-go's
# tftypes/value_msgpack_test.go pins for the same values (a wire-compatible implementation),
# re-derived by hand from go-cty's cty/msgpack/marshal.go, dynamic.go and unknown.go.
VECTORS = [
    (STRING, "hello", "a568656c6c6f"),
    (STRING, "", "a0"),
    (STRING, None, "c0"),
    (STRING, UNKNOWN, "d40000"),
    (BOOL, True, "c3"),
    (BOOL, False, "c2"),
    (BOOL, None, "c0"),
    (BOOL, UNKNOWN, "d40000"),
    (NUMBER, 1, "01"),
    (NUMBER, 2**63 - 1, "cf7fffffffffffffff"),
    (NUMBER, -(2**63), "d38000000000000000"),
    (NUMBER, 2**64 - 1, "b4" + b"18446744073709551615".hex()),  # beyond int64: decimal string
    (NUMBER, 2**63, "b3" + b"9223372036854775808".hex()),
    (NUMBER, Decimal("1.5"), "cb3ff8000000000000"),
    (NUMBER, Decimal.from_float(5e-324), "cb0000000000000001"),
    (NUMBER, 10**100 - 1, "d964" + b"9".hex() * 100),
    (NUMBER, Decimal("0.8"), "a3302e38"),  # not exactly a float64, so a string
    (NUMBER, INF, "cb7ff0000000000000"),
    (NUMBER, -INF, "cbfff0000000000000"),
    (DYNAMIC, DynamicValue(BOOL, True), "92c40622626f6f6c22c3"),
    (
        DYNAMIC,
        DynamicValue(List(STRING), ["hello"]),
        "92c4115b226c697374222c22737472696e67225d91a568656c6c6f",
    ),
    (
        DYNAMIC,
        DynamicValue(Map(STRING), {"hello": "hello"}),
        "92c4105b226d6170222c22737472696e67225d81a568656c6c6fa568656c6c6f",
    ),
    (DYNAMIC, DynamicValue(NUMBER, 1), "92c408226e756d6265722201"),
    (DYNAMIC, DynamicValue(Set(STRING), ["hello"]), "92c4105b22736574222c22737472696e67225d91a568656c6c6f"),
    (DYNAMIC, DynamicValue(STRING, "hello"), "92c40822737472696e6722a568656c6c6f"),
    (DYNAMIC, DynamicValue(STRING, None), "92c40822737472696e6722c0"),
    (DYNAMIC, None, "c0"),
    (DYNAMIC, UNKNOWN, "d40000"),
    (
        GREETING_D,
        {"greeting": DynamicValue(STRING, "hello")},
        "81a86772656574696e6792c40822737472696e6722a568656c6c6f",
    ),
    (object_type({"a": DYNAMIC}), {"a": None}, "81a161c0"),
    (List(DYNAMIC), [DynamicValue(STRING, "hello")], "9192c40822737472696e6722a568656c6c6f"),
    (List(DYNAMIC), [DynamicValue(STRING, None)], "9192c40822737472696e6722c0"),
    (List(DYNAMIC), [UNKNOWN], "91d40000"),
    (List(STRING), ["hello"], "91a568656c6c6f"),
    (List(STRING), [UNKNOWN], "91d40000"),
    (List(STRING), [None], "91c0"),
    (List(STRING), None, "c0"),
    (List(STRING), [], "90"),
    (Set(DYNAMIC), [DynamicValue(STRING, "hello")], "9192c40822737472696e6722a568656c6c6f"),
    (Set(STRING), ["hello"], "91a568656c6c6f"),
    (Set(STRING), [UNKNOWN], "91d40000"),
    (Set(STRING), [None], "91c0"),
    (Set(STRING), [], "90"),
    (
        Map(DYNAMIC),
        {"greeting": DynamicValue(STRING, "hello")},
        "81a86772656574696e6792c40822737472696e6722a568656c6c6f",
    ),
    (Map(STRING), {"greeting": "hello"}, "81a86772656574696e67a568656c6c6f"),
    (Map(STRING), {"greeting": UNKNOWN}, "81a86772656574696e67d40000"),
    (Map(STRING), {"greeting": None}, "81a86772656574696e67c0"),
    (Map(STRING), {}, "80"),
    (
        Tuple((DYNAMIC, DYNAMIC)),
        [DynamicValue(STRING, "hello"), DynamicValue(STRING, "world")],
        "9292c40822737472696e6722a568656c6c6f92c40822737472696e6722a5776f726c64",
    ),
    (Tuple((STRING,)), ["hello"], "91a568656c6c6f"),
    (Tuple((STRING,)), [UNKNOWN], "91d40000"),
    (Tuple((STRING,)), [None], "91c0"),
    (Tuple(()), [], "90"),
    (GREETING_S, {"greeting": "hello"}, "81a86772656574696e67a568656c6c6f"),
    (GREETING_S, {"greeting": UNKNOWN}, "81a86772656574696e67d40000"),
    (GREETING_S, {"greeting": None}, "81a86772656574696e67c0"),
    (AB, {"a": None, "b": None}, "82a161c0a162c0"),
    (AB, {"a": UNKNOWN, "b": UNKNOWN}, "82a161d40000a162d40000"),
    (object_type({}), {}, "80"),
    # Refined unknowns: ext 12 whose payload is a map of refinements (cty/msgpack/unknown.go);
    # bytes as pinned by terraform-plugin-go's tftypes/value_msgpack_test.go.
    (BOOL, Unknown(NN), "c7030c8101c2"),
    (NUMBER, Unknown(NN), "c7030c8101c2"),
    (STRING, Unknown(NN), "c7030c8101c2"),
    (List(STRING), Unknown(NN), "c7030c8101c2"),
    (object_type({"attr": STRING}), Unknown(NN), "c7030c8101c2"),
    (
        STRING,
        Unknown(Refinements(not_null=True, string_prefix="prefix://")),
        "c70e0c8201c202a97072656669783a2f2f",
    ),
    (
        NUMBER,
        Unknown(Refinements(not_null=True, number_lower=(1, True), number_upper=(5, True))),
        "c70b0c8301c2039201c3049205c3",
    ),
    (
        NUMBER,
        Unknown(Refinements(not_null=True, number_lower=(1, False), number_upper=(5, False))),
        "c70b0c8301c2039201c2049205c2",
    ),
    (
        NUMBER,
        Unknown(
            Refinements(
                not_null=True,
                number_lower=(Decimal.from_float(1.23), True),
                number_upper=(Decimal.from_float(5.67), True),
            )
        ),
        "c71b0c8301c20392cb3ff3ae147ae147aec30492cb4016ae147ae147aec3",
    ),
    (
        List(STRING),
        Unknown(Refinements(not_null=True, length_lower=1, length_upper=5)),
        "c7070c8301c205010605",
    ),
    (Set(BOOL), Unknown(Refinements(not_null=True, length_lower=2, length_upper=6)), "c7070c8301c205020606"),
    # go-cty omits a zero length lower bound (terraform-plugin-go writes 05 00 here).
    (Map(NUMBER), Unknown(Refinements(not_null=True, length_upper=4)), "c7050c8201c20604"),
    # Derived from cty/msgpack/unknown.go: single refinements, no nullness.
    (NUMBER, Unknown(Refinements(number_lower=(0, False))), "c7050c81039200c2"),
    (NUMBER, Unknown(Refinements(number_upper=(Decimal("0.5"), True))), "c70d0c810492cb3fe0000000000000c3"),
    (List(STRING), Unknown(Refinements(length_lower=2, length_upper=2)), "c7050c8205020602"),
]


@pytest.mark.parametrize(("t", "value", "hexed"), VECTORS)
def test_vectors_both_directions(t, value, hexed):
    assert encode(value, t).hex() == hexed
    assert decode(bytes.fromhex(hexed), t) == value


# (type, input value, hex, decoded value) where encoding canonicalises the value first.
CANONICALISING = [
    # math.MaxFloat64 is integral, so go-cty writes big.Float.Text('f', -1) of it: its shortest digits.
    (
        NUMBER,
        sys.float_info.max,
        "da0135" + (b"17976931348623157" + b"0" * 292).hex(),
        int("17976931348623157" + "0" * 292),
    ),
    (NUMBER, 1.5, "cb3ff8000000000000", Decimal("1.5")),
    (NUMBER, Decimal("2.000"), "02", 2),
    (NUMBER, 3.0, "03", 3),
    (STRING, "e\u0301", "a2c3a9", "\u00e9"),  # NFC, as cty.StringVal
    (
        Set(STRING),
        ["b", "a", "b", None, UNKNOWN, None, "c"],
        "95a161a162a163d40000c0",
        ["a", "b", "c", UNKNOWN, None],
    ),
    (Set(NUMBER), [10, 9, Decimal("9.0"), -INF], "93cbfff0000000000000090a", [-INF, 9, 10]),
    (Set(BOOL), [True, False], "92c2c3", [False, True]),
    # Sets of non-primitives are ordered by cty's set hash bytes ("[10;]" < "[9;]").
    (Set(List(NUMBER)), [[9], [10]], "92910a9109", [[10], [9]]),
    (Map(STRING), {"b": "1", "a": "2"}, "82a161a132a162a131", {"a": "2", "b": "1"}),
    # Refinements collapse as in go-cty's RefinementBuilder.NewValue.
    (NUMBER, Unknown(Refinements(not_null=True, number_lower=(5, True), number_upper=(5, True))), "05", 5),
    (
        List(STRING),
        Unknown(Refinements(not_null=True, length_lower=2, length_upper=2)),
        "92d40000d40000",
        [UNKNOWN, UNKNOWN],
    ),
    (Set(STRING), Unknown(Refinements(not_null=True, length_lower=1, length_upper=1)), "91d40000", [UNKNOWN]),
    (Map(STRING), Unknown(Refinements(not_null=True, length_upper=0)), "80", {}),
    (STRING, Unknown(Refinements(string_prefix="")), "d40000", UNKNOWN),
    (DYNAMIC, Unknown(NN), "d40000", UNKNOWN),  # DynamicVal can never be refined
    (STRING, DynamicValue(STRING, "x"), "a178", "x"),
]


@pytest.mark.parametrize(("t", "value", "hexed", "decoded"), CANONICALISING)
def test_canonicalising_vectors(t, value, hexed, decoded):
    assert encode(value, t).hex() == hexed
    assert decode(bytes.fromhex(hexed), t) == decoded


def test_long_string_prefix_is_truncated_like_go_cty():
    # Cases of go-cty's TestRoundTrip_truncatesStringPrefixRefinement (roundtrip_test.go), written
    # with the prefixes cty.StringPrefix would store (it drops one unsafe trailing character).
    cases = [
        ("a" * 1023, "a" * 254),
        ("c" * 255 + "-", "c" * 255 + "-"),
        ("d" * 255 + "\U0001f937", "d" * 254),
    ]
    for given, stored in cases:
        wire = encode(Unknown(Refinements(string_prefix=given)), STRING)
        assert decode(wire, STRING) == Unknown(Refinements(string_prefix=stored))
    nn = encode(Unknown(Refinements(not_null=True, string_prefix="b" * 1023)), STRING)
    assert decode(nn, STRING) == Unknown(Refinements(not_null=True, string_prefix="b" * 254))


# (type, hex, decoded): encodings go-cty's Unmarshal accepts that its Marshal never writes.
DECODE_ONLY = [
    (NUMBER, "cc01", 1),
    (NUMBER, "cd0001", 1),
    (NUMBER, "ce00000001", 1),
    (NUMBER, "cf0000000000000001", 1),
    (NUMBER, "d0ff", -1),
    (NUMBER, "d1ffff", -1),
    (NUMBER, "d2ffffffff", -1),
    (NUMBER, "d3ffffffffffffffff", -1),
    (NUMBER, "cfffffffffffffffff", 2**64 - 1),
    (NUMBER, "ca3fc00000", Decimal("1.5")),  # float32
    (NUMBER, "cb4000000000000000", 2),
    (NUMBER, "cb3fb999999999999a", Decimal.from_float(0.1)),  # float64 values are kept exactly
    (NUMBER, "a3" + b"1.5".hex(), Decimal("1.5")),
    (NUMBER, "c403" + b"1e3".hex(), 1000),  # bin accepted where a string is
    (NUMBER, "a3" + b"Inf".hex(), INF),  # big.ParseFloat accepts inf
    (NUMBER, "a4" + b"-inf".hex(), -INF),
    (NUMBER, "a3" + b"1p3".hex(), 8),  # ...and binary exponents
    (NUMBER, "a2" + b"-0".hex(), 0),
    (STRING, "c40568656c6c6f", "hello"),
    (STRING, "d90568656c6c6f", "hello"),
    (STRING, "da000568656c6c6f", "hello"),
    (STRING, "a365cc81", "\u00e9"),
    (List(STRING), "dc0001a0", [""]),
    (List(STRING), "dd00000001a0", [""]),
    (Map(STRING), "de0001a0a0", {"": ""}),
    (Map(STRING), "df00000001a0a0", {"": ""}),
    (Map(STRING), "82a161a131a161a132", {"a": "2"}),  # duplicate keys: the last wins
    (Map(STRING), "81c0a0", {"": ""}),  # DecodeString reads nil as ""
    (Set(STRING), "93a162a161a162", ["a", "b"]),
    (AB, "82a162c0a161a178", {"a": "x", "b": None}),  # any key order
    # Every extension value is an unknown; length <= 1 means unrefined whatever its type code.
    (STRING, "c70000", UNKNOWN),
    (STRING, "d405ff", UNKNOWN),
    (STRING, "d4ff00", UNKNOWN),
    (STRING, "c7010c00", UNKNOWN),
    (STRING, "c7020cc000", UNKNOWN),  # nil refinement map
    (STRING, "d60c8101c2ff", Unknown(NN)),  # bytes after the refinement map are ignored
    (STRING, "c7030c8102a0", UNKNOWN),  # empty prefix
    (STRING, "c7030c8101c3", None),  # refined as null: collapses to a known null
    (BOOL, "c7030c8101c0", Unknown(NN)),  # DecodeBool reads nil as false
    # go-cty ignores unknown refinement keys without consuming their values (unknown.go).
    (BOOL, "c7040c820701c2", Unknown(NN)),
    (STRING, "c7030c8101c2", Unknown(NN)),
    (DYNAMIC, "c7030c8101c2", UNKNOWN),
    (DYNAMIC, "c7030c8102c2", UNKNOWN),  # refinements of a dynamic unknown are not even checked
    (NUMBER, "c7090c82039200c3039201c3", Unknown(Refinements(number_lower=(1, True)))),  # tighter bound wins
    (
        NUMBER,
        "c70a0c8201c20392a3" + b"Inf".hex() + "c3",
        Unknown(Refinements(not_null=True, number_lower=(INF, True))),
    ),
    # A -Inf lower bound constrains nothing and is dropped (as cty.NumberRangeLowerBound drops
    # cty.NegativeInfinity; go-cty's decoder compares by pointer and would keep a decoded one).
    (NUMBER, "c7090c810392a4" + b"-Inf".hex() + "c2", UNKNOWN),
    (List(STRING), "c7050c8205020602", Unknown(Refinements(length_lower=2, length_upper=2))),
    (List(STRING), "c7050c8205ff0603", Unknown(Refinements(length_upper=3))),  # negative lower bound ignored
    (DYNAMIC, "92a8" + b'"string"'.hex() + "a0", DynamicValue(STRING, "")),  # type JSON as str
    (DYNAMIC, "92a9" + b'"dynamic"'.hex() + "c0", None),
    (DYNAMIC, "92a9" + b'"dynamic"'.hex() + "92a8" + b'"string"'.hex() + "a0", DynamicValue(STRING, "")),
]


@pytest.mark.parametrize(("t", "hexed", "decoded"), DECODE_ONLY)
def test_decode_variants(t, hexed, decoded):
    assert decode(bytes.fromhex(hexed), t) == decoded


ERRORS = [
    (NUMBER, "0101"),  # trailing data
    (NUMBER, ""),
    (STRING, "a56865"),  # truncated
    (List(NUMBER), "9201"),
    (NUMBER, "cb00"),
    (STRING, "01"),
    (NUMBER, "a161"),
    (NUMBER, "c3"),
    (NUMBER, "a3" + b"0x1".hex()),
    (NUMBER, "a3" + b"1_0".hex()),
    (NUMBER, "a3" + b" 10".hex()),
    (NUMBER, "cb7ff8000000000000"),  # NaN
    (BOOL, "01"),
    (List(STRING), "80"),
    (Map(STRING), "90"),
    (Map(STRING), "8101a0"),  # non-string key
    (AB, "81a161c0"),  # attribute count
    (AB, "80"),
    (AB, "82a161c0a161c0"),  # duplicate key leaves "b" missing
    (AB, "82a161c0a163c0"),  # unsupported attribute
    (AB, "8201c0a161c0"),
    (Tuple((STRING, STRING)), "91a0"),
    (Tuple((STRING,)), "90"),
    (STRING, "c1"),
    (STRING, "d50500ff"),  # ext of length 2 that is not type 12
    (STRING, "c7"),
    (STRING, "d4"),
    (STRING, "c9000004010c" + "00" * 1025),  # oversize refinements
    (STRING, "c7030c9101c2"),  # payload not a map
    (STRING, "c7030c81a1c2"),  # non-integer key
    (NUMBER, "c7030c8102a0"),  # prefix on a number
    (STRING, "c7030c810500"),  # length on a string
    (STRING, "c7030c810392"),  # bound on a string
    (NUMBER, "c7040c81039201"),  # bound payload truncated
    (NUMBER, "c7050c8103920001"),  # bound inclusivity not a bool
    (NUMBER, "c7050c810392c0c3"),  # null bound
    (NUMBER, "c7090c82039205c3049201c3"),  # lower > upper
    (List(STRING), "c7050c8205030602"),  # length lower > upper
    (List(STRING), "c7030c8106ff"),  # negative upper bound
    (STRING, "c7050c8201c201c3"),  # conflicting nullness
    (STRING, "c7030c8102c3"),  # prefix not a string
    (STRING, "c7040c8102a1ff"),  # prefix not UTF-8
    (STRING, "c7030c8201c2"),  # second map entry missing from the payload
    (STRING, "c7050c8101c2"),  # payload shorter than its declared length
    (DYNAMIC, "93a0a0a0"),
    (DYNAMIC, "92a3666f6fc0"),
    (DYNAMIC, "92c0c0"),
    (DYNAMIC, "01"),
    (List(DYNAMIC), "9292a8" + b'"string"'.hex() + "a092a8" + b'"number"'.hex() + "01"),  # mixed types
    (List(NUMBER), "dd7fffffff"),  # huge declared length, no data
]


@pytest.mark.parametrize(("t", "hexed"), ERRORS)
def test_decode_errors(t, hexed):
    with pytest.raises(CtyError):
        decode(bytes.fromhex(hexed), t)


def test_error_paths():
    t = object_type({"labels": Map(STRING), "items": List(NUMBER)})
    with pytest.raises(CtyError) as e:
        encode({"labels": {"x": 5}, "items": []}, t)
    assert e.value.path == ("labels", MapKey("x"))
    assert str(e.value) == 'at .labels["x"]: expected string, got int'
    with pytest.raises(CtyError) as e:
        decode(bytes.fromhex("82a56974656d7391a178a66c6162656c7380"), t)
    assert e.value.path == ("items", 0)
    assert "number is required" in str(e.value)


@pytest.mark.parametrize(
    ("t", "value"),
    [
        (STRING, 1),
        (NUMBER, True),
        (NUMBER, "1"),
        (NUMBER, float("nan")),
        (BOOL, 1),
        (List(STRING), "ab"),
        (Map(STRING), {1: "a"}),
        (object_type({"a": STRING}), {}),
        (object_type({"a": STRING}), {"a": None, "b": None}),
        (Tuple((STRING,)), []),
        (DYNAMIC, "x"),
        (DYNAMIC, DynamicValue(DYNAMIC, "x")),
        (List(DYNAMIC), [DynamicValue(STRING, "a"), DynamicValue(NUMBER, 1)]),
        (STRING, Unknown(Refinements(length_lower=1))),
        (NUMBER, Unknown(Refinements(string_prefix="x"))),
        (List(STRING), Unknown(Refinements(number_lower=(1, True)))),
        (NUMBER, Unknown(Refinements(number_lower=(2, True), number_upper=(1, True)))),
        (List(STRING), Unknown(Refinements(length_lower=3, length_upper=2))),
        (List(STRING), Unknown(Refinements(length_lower=-1))),
        (STRING, "\ud800"),
    ],
)
def test_encode_rejects(t, value):
    with pytest.raises(CtyError):
        encode(value, t)


def test_bytes_like_input():
    assert decode(bytearray(b"\xa1x"), STRING) == "x"
    assert decode(memoryview(b"\xa1x"), STRING) == "x"
    with pytest.raises(CtyError):
        decode("a1", STRING)  # type: ignore[arg-type]


def test_invalid_utf8_survives_a_round_trip():
    raw = bytes.fromhex("a2ff61")
    value = decode(raw, STRING)
    assert encode(value, STRING) == raw
