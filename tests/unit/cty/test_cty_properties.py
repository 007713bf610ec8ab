"""Property tests: round trips through both codecs, and fuzzing the decoders."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider.cty._numbers import go_g10
from provider.cty.errors import CtyError
from provider.cty.json_codec import decode_json, encode_json
from provider.cty.msgpack_codec import decode, encode
from provider.cty.types import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    List,
    Map,
    Set,
    Tuple,
    object_type,
    type_from_json,
)
from provider.cty.values import UNKNOWN, DynamicValue, conform, is_fully_known, is_unknown

from .strategies import damage, typed_values

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(typed_values(unknowns=True))
def test_msgpack_round_trip(tv):
    t, value = tv
    wire = encode(value, t)
    decoded = decode(wire, t)
    assert decoded == conform(value, t)
    assert encode(decoded, t) == wire  # canonical form is stable


@SETTINGS
@given(typed_values(unknowns=False, floats=False))
def test_json_round_trip(tv):
    t, value = tv
    wire = encode_json(value, t)
    decoded = decode_json(wire, t)
    assert decoded == conform(value, t)
    assert encode_json(decoded, t) == wire


@SETTINGS
@given(typed_values(unknowns=False, floats=False))
def test_codecs_agree(tv):
    t, value = tv
    assert decode(encode(value, t), t) == decode_json(encode_json(value, t), t)


@SETTINGS
@given(typed_values(unknowns=True), st.randoms())
def test_set_order_does_not_depend_on_input_order(tv, rnd):
    t, value = tv
    st_type = Set(t)
    elems = [value, value, None]
    shuffled = elems[:]
    rnd.shuffle(shuffled)
    try:
        first = encode(elems, st_type)
    except CtyError:
        return  # e.g. dynamic elements of differing types
    assert encode(shuffled, st_type) == first


@SETTINGS
@given(typed_values(unknowns=True, floats=False))  # no infinities: JSON cannot hold them
def test_unknown_helpers(tv):
    t, value = tv
    canon = conform(value, t)
    if is_unknown(canon):
        assert not is_fully_known(canon)
    if is_fully_known(canon):
        encode_json(canon, t)  # must not raise
    else:
        with pytest.raises(CtyError):
            encode_json(canon, t)


FUZZ_TYPES = [
    STRING,
    NUMBER,
    BOOL,
    DYNAMIC,
    List(STRING),
    Set(NUMBER),
    Map(DYNAMIC),
    Tuple((STRING, NUMBER)),
    object_type({"a": STRING, "b": List(object_type({"c": NUMBER}))}),
    List(DYNAMIC),
]


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(FUZZ_TYPES))
def test_fuzz_msgpack_random_bytes(data, t):
    try:
        decode(data, t)
    except CtyError:
        pass


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_values(unknowns=True), st.randoms(use_true_random=False), st.integers(0, 3))
def test_fuzz_msgpack_mutations(tv, rnd, how):
    t, value = tv
    try:
        decode(damage(encode(value, t), rnd, how), t)
    except CtyError:
        pass


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(st.binary(max_size=48), st.text(alphabet='[]{}",:0123456789.eEtruefalsnl- \\abc', max_size=48)),
    st.sampled_from(FUZZ_TYPES),
)
def test_fuzz_json(data, t):
    try:
        decode_json(data, t)
    except CtyError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='[]{}",:listmapobjectuplesringnumbrdyac ', max_size=40))
def test_fuzz_type_json(data):
    try:
        type_from_json(data)
    except CtyError:
        pass


def test_fuzz_refinement_payloads():
    # Random refinement maps behind a well-formed ext 12 header, for every kind of type.
    rnd = random.Random(1234)
    for _ in range(5000):
        body = bytes([0x80 | rnd.randrange(4)]) + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 12)))
        wire = bytes([0xC7, len(body), 0x0C]) + body
        for t in (STRING, NUMBER, List(STRING), Map(BOOL), Set(NUMBER), DYNAMIC, BOOL):
            try:
                decode(wire, t)
            except CtyError:
                pass


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0"),
        (1, "1"),
        (-1, "-1"),
        (100, "100"),
        (1234567890, "1234567890"),
        (12345678901, "1.23456789e+10"),
        (12345678951, "1.234567895e+10"),
        (99999999999, "1e+11"),
        (0.5, "0.5"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
    ],
)
def test_go_g10(value, expected):
    # big.Float.String() (Text('g', 10)), which cty uses to hash numbers in sets.
    assert go_g10(value) == expected


def test_dynamic_value_helpers():
    assert is_unknown(UNKNOWN)
    assert is_unknown(DynamicValue(STRING, UNKNOWN))
    assert not is_unknown([UNKNOWN])
    assert not is_fully_known([1, {"a": UNKNOWN}])
    assert is_fully_known({"a": [DynamicValue(Map(STRING), {"b": None})]})
