"""go-cty JSON value encoding (Terraform state JSON)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from provider.cty.errors import CtyError
from provider.cty.json_codec import decode_json, encode_json
from provider.cty.types import BOOL, DYNAMIC, NUMBER, STRING, List, Map, Set, Tuple, object_type
from provider.cty.values import UNKNOWN, DynamicValue, Refinements, Unknown

# (type, value, JSON) from go-cty's cty/json/value_test.go (TestValueJSONable), limited to the
# cases whose value already conforms to the type (go-cty's Marshal converts the others first).
GO_CTY_VECTORS = [
    (STRING, "hello", b'"hello"'),
    (STRING, "", b'""'),
    (STRING, None, b"null"),
    (NUMBER, 2, b"2"),
    (NUMBER, Decimal("2.5"), b"2.5"),
    (BOOL, True, b"true"),
    (BOOL, False, b"false"),
    (List(BOOL), [True, False], b"[true,false]"),
    (List(BOOL), [], b"[]"),
    (Set(BOOL), [False, True], b"[false,true]"),
    (Set(BOOL), [], b"[]"),
    (Tuple((BOOL, NUMBER)), [True, 5], b"[true,5]"),
    (Tuple(()), [], b"[]"),
    (Map(BOOL), {}, b"{}"),
    (Map(BOOL), {"no": False, "yes": True}, b'{"no":false,"yes":true}'),
    (Map(BOOL), None, b"null"),
    (object_type({}), {}, b"{}"),
    (object_type({"bool": BOOL, "number": NUMBER}), {"bool": True, "number": 0}, b'{"bool":true,"number":0}'),
    (DYNAMIC, DynamicValue(BOOL, True), b'{"value":true,"type":"bool"}'),
    (DYNAMIC, DynamicValue(STRING, "hello"), b'{"value":"hello","type":"string"}'),
    (DYNAMIC, DynamicValue(NUMBER, 5), b'{"value":5,"type":"number"}'),
    (DYNAMIC, DynamicValue(List(BOOL), [True, False]), b'{"value":[true,false],"type":["list","bool"]}'),
    (
        List(DYNAMIC),
        [DynamicValue(BOOL, True), DynamicValue(BOOL, False)],
        b'[{"value":true,"type":"bool"},{"value":false,"type":"bool"}]',
    ),
    (
        object_type({"static": BOOL, "dynamic": DYNAMIC}),
        {"static": True, "dynamic": DynamicValue(BOOL, True)},
        b'{"dynamic":{"value":true,"type":"bool"},"static":true}',
    ),
    (
        DYNAMIC,
        DynamicValue(object_type({"static": BOOL, "dynamic": BOOL}), {"static": True, "dynamic": True}),
        b'{"value":{"dynamic":true,"static":true},"type":["object",{"dynamic":"bool","static":"bool"}]}',
    ),
]

# Derived from go-cty's cty/json/marshal.go: numbers via big.Float.Text('f', -1), strings via
# Go's encoding/json (HTML-safe escapes; Go >= 1.22 writes \b and \f), dynamic nulls, sets ordered.
MORE_VECTORS = [
    (NUMBER, 2**64, b"18446744073709551616"),
    (NUMBER, -(10**40), b"-1" + b"0" * 40),
    (NUMBER, Decimal("0.1000000000000000000000000001"), b"0.1000000000000000000000000001"),
    (NUMBER, Decimal("-1E-7"), b"-0.0000001"),
    (STRING, "<a & b>", b'"\\u003ca \\u0026 b\\u003e"'),
    (STRING, "\u2028\u2029", b'"\\u2028\\u2029"'),
    (STRING, 'q"\\\n\r\t\b\f\x01\x7f', b'"q\\"\\\\\\n\\r\\t\\b\\f\\u0001\x7f"'),
    (STRING, "caf\u00e9 \U0001f937", '"caf\u00e9 \U0001f937"'.encode()),
    (DYNAMIC, None, b"null"),
    (DYNAMIC, DynamicValue(STRING, None), b'{"value":null,"type":"string"}'),
    (Set(STRING), ["a", "b", None], b'["a","b",null]'),
    (Map(STRING), {"a": "1", "b": None}, b'{"a":"1","b":null}'),
    (object_type({"a": STRING, "b": List(NUMBER)}), {"a": None, "b": [1, 2]}, b'{"a":null,"b":[1,2]}'),
]


@pytest.mark.parametrize(("t", "value", "expected"), GO_CTY_VECTORS + MORE_VECTORS)
def test_vectors_both_directions(t, value, expected):
    assert encode_json(value, t) == expected
    assert decode_json(expected, t) == value
    assert decode_json(expected.decode(), t) == value


@pytest.mark.parametrize(
    ("t", "value", "expected"),
    [
        (NUMBER, 0.1, b"0.1"),  # a float prints as its shortest digits, as a 53-bit big.Float does
        (NUMBER, 1e22, b"10000000000000000000000"),
        (NUMBER, Decimal("1.500"), b"1.5"),
        (NUMBER, Decimal("1E+3"), b"1000"),
        (Set(NUMBER), [3, 1, 2, 1], b"[1,2,3]"),
        (Map(STRING), {"b": "x", "a": "y"}, b'{"a":"y","b":"x"}'),
        (STRING, "e\u0301", '"\u00e9"'.encode()),
    ],
)
def test_encode_canonicalises(t, value, expected):
    assert encode_json(value, t) == expected


# (type, JSON, value): decoding rules of go-cty's cty/json/unmarshal.go.
DECODE_ONLY = [
    (STRING, b"1.50", "1.50"),  # a number literal keeps its text
    (STRING, b"1e5", "1e5"),
    (STRING, b"true", "true"),
    (NUMBER, b'"12"', 12),
    (NUMBER, b'"Inf"', float("inf")),
    (NUMBER, b"1e400", 10**400),
    (NUMBER, b"123456789012345678901234567890", 123456789012345678901234567890),
    (NUMBER, b"0.1000000000000000000000000000000001", Decimal("0.1000000000000000000000000000000001")),
    (NUMBER, b"-0.0", 0),
    (BOOL, b'"true"', True),
    (BOOL, b'"1"', True),
    (BOOL, b'"false"', False),
    (BOOL, b'"0"', False),
    (object_type({"a": NUMBER, "b": STRING}), b'{"a":1}', {"a": 1, "b": None}),  # missing -> null
    (object_type({"a": NUMBER}), b'{"a":1,"a":2}', {"a": 2}),
    (Map(STRING), b'{"b":"1","a":"2"}', {"a": "2", "b": "1"}),
    (Set(STRING), b'["b","a","b"]', ["a", "b"]),
    (DYNAMIC, b'{"type":"string","value":"x"}', DynamicValue(STRING, "x")),
    (DYNAMIC, b'{"value":null,"type":"dynamic"}', None),
    (DYNAMIC, b' {"value" : [ 1 ] , "type" : ["list","number"] } ', DynamicValue(List(NUMBER), [1])),
    (STRING, b'"\\ud800"', "\ufffd"),  # unpaired surrogate escape
    (STRING, b'"\xff"', "\ufffd"),  # invalid UTF-8
    (STRING, b'"e\\u0301"', "\u00e9"),
    (List(STRING), b"null", None),
]


@pytest.mark.parametrize(("t", "data", "value"), DECODE_ONLY)
def test_decode_variants(t, data, value):
    assert decode_json(data, t) == value


@pytest.mark.parametrize(
    ("t", "data"),
    [
        (NUMBER, b"true"),
        (NUMBER, b'"abc"'),
        (NUMBER, b"NaN"),
        (NUMBER, b"Infinity"),
        (NUMBER, b"[1]"),
        (STRING, b"{}"),
        (BOOL, b"1"),
        (BOOL, b'"True"'),
        (BOOL, b'"yes"'),
        (List(STRING), b'{"a":1}'),
        (Map(STRING), b"[]"),
        (object_type({"a": STRING}), b'{"b":"x"}'),
        (Tuple((STRING,)), b'["a","b"]'),
        (Tuple((STRING, STRING)), b'["a"]'),
        (DYNAMIC, b'"x"'),
        (DYNAMIC, b'{"value":1}'),
        (DYNAMIC, b'{"type":"number"}'),
        (DYNAMIC, b'{"type":"number","value":1,"extra":1}'),
        (DYNAMIC, b'{"type":"nope","value":1}'),
        (List(DYNAMIC), b'[{"type":"number","value":1},{"type":"string","value":"x"}]'),
        (STRING, b'"a" "b"'),
        (STRING, b""),
        (STRING, b'"abc'),
        (List(NUMBER), b"[" * 50000),
        (STRING, 5),
    ],
)
def test_decode_errors(t, data):
    with pytest.raises(CtyError):
        decode_json(data, t)


@pytest.mark.parametrize(
    ("t", "value"),
    [
        (STRING, UNKNOWN),
        (List(STRING), ["a", UNKNOWN]),
        (NUMBER, Unknown(Refinements(not_null=True))),
        (DYNAMIC, DynamicValue(STRING, UNKNOWN)),
        (NUMBER, float("inf")),
        (NUMBER, float("-inf")),
    ],
)
def test_encode_errors(t, value):
    with pytest.raises(CtyError):
        encode_json(value, t)


def test_unknown_error_names_its_path():
    t = object_type({"tags": Map(STRING)})
    with pytest.raises(CtyError) as e:
        encode_json({"tags": {"k": UNKNOWN}}, t)
    assert str(e.value) == 'at .tags["k"]: value is not known'
    with pytest.raises(CtyError) as e:
        decode_json(b'{"tags":{"k":5}}', object_type({"tags": Map(BOOL)}))
    assert e.value.path == ("tags", "k")
