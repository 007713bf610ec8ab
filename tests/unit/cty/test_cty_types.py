"""cty types and their JSON form."""

from __future__ import annotations

import copy
import pickle

import pytest
from hypothesis import given

from provider.cty.errors import CtyError, MapKey
from provider.cty.types import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    List,
    Map,
    Object,
    Set,
    Tuple,
    object_type,
    type_from_json,
    type_to_json,
)
from provider.cty.values import UNKNOWN, DynamicValue, Refinements, Unknown

from .strategies import types

# Expected JSON from go-cty's cty/json_test.go (TestTypeJSONable).
GO_CTY_TYPE_JSON = [
    (STRING, b'"string"'),
    (NUMBER, b'"number"'),
    (BOOL, b'"bool"'),
    (List(BOOL), b'["list","bool"]'),
    (Map(BOOL), b'["map","bool"]'),
    (Set(BOOL), b'["set","bool"]'),
    (List(Map(BOOL)), b'["list",["map","bool"]]'),
    (Tuple((BOOL, STRING)), b'["tuple",["bool","string"]]'),
    (object_type({"bool": BOOL, "string": STRING}), b'["object",{"bool":"bool","string":"string"}]'),
    (
        object_type({"bool": BOOL, "string": STRING}, ["string", "bool"]),
        b'["object",{"bool":"bool","string":"string"},["bool","string"]]',
    ),
    (DYNAMIC, b'"dynamic"'),
]

# Further cases from the brief and from go-cty's cty/json.go (Type.MarshalJSON) logic.
MORE_TYPE_JSON = [
    (object_type({"a": NUMBER}), b'["object",{"a":"number"}]'),
    (object_type({"a": NUMBER}, ["a"]), b'["object",{"a":"number"},["a"]]'),
    (Tuple((STRING, BOOL)), b'["tuple",["string","bool"]]'),
    (Tuple(()), b'["tuple",[]]'),
    (object_type({}), b'["object",{}]'),
    (List(DYNAMIC), b'["list","dynamic"]'),
    # Go's encoding/json escapes HTML-sensitive characters in attribute names.
    (object_type({"a<b": STRING}), b'["object",{"a\\u003cb":"string"}]'),
    (object_type({"z": STRING, "a": List(STRING)}), b'["object",{"a":["list","string"],"z":"string"}]'),
]


@pytest.mark.parametrize(("t", "expected"), GO_CTY_TYPE_JSON + MORE_TYPE_JSON)
def test_type_json_both_directions(t, expected):
    assert type_to_json(t) == expected
    assert type_from_json(expected) == t
    assert type_from_json(expected.decode()) == t


def test_object_type_normalises():
    t = Object((("b", STRING), ("a", NUMBER)))
    assert t.attributes == (("a", NUMBER), ("b", STRING))
    assert t == object_type({"a": NUMBER, "b": STRING})
    assert t.attribute_types == {"a": NUMBER, "b": STRING}
    assert object_type({"e\u0301": STRING}).attributes == (("\u00e9", STRING),)  # NFC like go-cty
    assert hash(t) == hash(object_type({"b": STRING, "a": NUMBER}))


def test_type_json_accepts_whitespace_and_null_containers():
    assert type_from_json(' [ "list" , "string" ] ') == List(STRING)
    # encoding/json decodes null into a nil map / slice.
    assert type_from_json('["object",null]') == object_type({})
    assert type_from_json('["tuple",null]') == Tuple(())
    assert type_from_json('["object",{"a":"string"},[]]') == object_type({"a": STRING})


@pytest.mark.parametrize(
    "bad",
    [
        b'"foo"',
        b"5",
        b"null",
        b"[]",
        b'["list"]',
        b'["list","string","string"]',
        b'["foo","string"]',
        b'["object",{"a":"string"},["b"]]',
        b'["object",["a"]]',
        b'["tuple","string"]',
        b'["list",null]',
        b'"string" x',
        b'["list","string"',
        b"\xff",
        b"",
        b"[" * 100000,
        b'["map",NaN]',
    ],
)
def test_type_json_errors(bad):
    with pytest.raises(CtyError):
        type_from_json(bad)


def test_invalid_object_type():
    with pytest.raises(CtyError):
        object_type({"a": STRING}, ["b"])


@given(types)
def test_type_json_round_trip(t):
    assert type_from_json(type_to_json(t)) == t


def test_error_message_names_the_path():
    err = CtyError("expected string, got int", ("labels", MapKey("x")))
    assert str(err) == 'at .labels["x"]: expected string, got int'
    assert err.path == ("labels", "x")
    assert isinstance(err, ValueError)
    assert str(CtyError("boom")) == "boom"
    assert str(CtyError("bad", ("a", 0, "b"))) == "at .a[0].b: bad"


def test_types_behave_as_frozen_value_objects():
    t = object_type({"b": List(STRING), "a": Map(NUMBER)}, ["a"])
    same = Object((("a", Map(NUMBER)), ("b", List(STRING))), optional=frozenset({"a"}))
    assert t == same
    assert hash(t) == hash(same)
    assert {t: 1}[same] == 1
    assert t != object_type({"b": List(STRING), "a": Map(NUMBER)})
    assert List(STRING) != Set(STRING)
    assert Tuple([STRING]) == Tuple((STRING,))
    assert repr(List(element=STRING)) == "List(element=Primitive(name='string'))"
    assert repr(Object({"a": BOOL})) == "Object(attributes=(('a', Primitive(name='bool')),), optional=frozenset())"
    with pytest.raises(AttributeError):
        t.attributes = ()  # type: ignore[misc]
    with pytest.raises(AttributeError):
        STRING.name = "bool"  # type: ignore[misc]
    assert copy.deepcopy(t) == t
    assert pickle.loads(pickle.dumps(t)) == t
    assert pickle.loads(pickle.dumps(DYNAMIC)) == DYNAMIC
    match t:
        case Object(attributes=((first, Map(element)), _)):
            assert (first, element) == ("a", NUMBER)
        case _:
            pytest.fail("no match")


def test_values_behave_as_frozen_value_objects():
    r = Refinements(not_null=True, number_lower=(1, True))
    assert Unknown(r) == Unknown(Refinements(True, None, (1, True)))
    assert hash(Unknown(r)) == hash(Unknown(Refinements(not_null=True, number_lower=(1, True))))
    assert Unknown() == UNKNOWN != Unknown(r)
    assert repr(UNKNOWN) == "Unknown(refinements=None)"
    assert repr(DynamicValue(STRING, "x")) == "DynamicValue(type=Primitive(name='string'), value='x')"
    assert DynamicValue(STRING, "x") == DynamicValue(type=STRING, value="x")
    assert DynamicValue(STRING, "x") != DynamicValue(STRING, "y")
    with pytest.raises(AttributeError):
        r.not_null = False  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(Unknown(r))) == Unknown(r)
    assert copy.copy(DynamicValue(List(STRING), ["a"])) == DynamicValue(List(STRING), ["a"])
