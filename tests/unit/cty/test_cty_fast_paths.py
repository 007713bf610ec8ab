"""The fast paths of conform and the msgpack codec against their reference implementations.

values.conform and msgpack_codec.encode/decode first try a fast path compiled per type (and, for
msgpack, one call into the msgpack C extension); anything it does not handle, and every error,
goes to the reference implementation (values._conform_slow, _msgpack_stream). Since the fallback
hides fast-path failures from the other tests, these tests check both that the fast paths handle
the common forms by themselves and that they agree with the references everywhere.
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provider.cty import _msgpack_stream, msgpack_codec, values
from provider.cty.errors import CtyError
from provider.cty.msgpack_codec import decode, encode
from provider.cty.types import BOOL, DYNAMIC, NUMBER, STRING, List, Map, Set, Tuple, object_type
from provider.cty.values import UNKNOWN, DynamicValue, Refinements, Unknown, conform

from .strategies import damage, typed_values
from .test_cty_msgpack import VECTORS
from .test_cty_properties import FUZZ_TYPES

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _forbidden(*args, **kwargs):
    raise AssertionError("the fast path fell back to the reference implementation")


def _unavailable(*args, **kwargs):
    raise RuntimeError("fast path disabled for this test")


@pytest.fixture
def fast_only(monkeypatch):
    """Fail if anything falls back to a reference implementation."""
    monkeypatch.setattr(_msgpack_stream, "encode", _forbidden)
    monkeypatch.setattr(_msgpack_stream, "decode", _forbidden)
    monkeypatch.setattr(values, "_conform_slow", _forbidden)


@pytest.fixture
def slow_only(monkeypatch):
    """Make every fast path fail, so everything goes through the reference implementations."""
    monkeypatch.setattr(values, "_conformer", _unavailable)
    monkeypatch.setattr(msgpack_codec, "_packable", _unavailable)
    monkeypatch.setattr(msgpack_codec, "_decoder", _unavailable)


@pytest.mark.parametrize(("t", "value", "hexed"), VECTORS)
def test_fast_paths_handle_go_cty_vectors(fast_only, t, value, hexed):
    assert encode(value, t).hex() == hexed
    assert decode(bytes.fromhex(hexed), t) == value
    assert conform(value, t) == value


@pytest.mark.parametrize(("t", "value", "hexed"), VECTORS)
def test_reference_paths_handle_go_cty_vectors(slow_only, t, value, hexed):
    assert encode(value, t).hex() == hexed
    assert decode(bytes.fromhex(hexed), t) == value
    assert conform(value, t) == value


COMMON = object_type(
    {
        "id": STRING,
        "name": STRING,
        "labels": Map(STRING),
        "size": NUMBER,
        "ratio": NUMBER,
        "flags": Set(STRING),
        "ports": List(NUMBER),
        "pair": Tuple((STRING, BOOL)),
        "extra": DYNAMIC,
        "nested": object_type({"enabled": BOOL, "host": STRING, "tags": List(STRING)}),
    }
)
COMMON_VALUE = {
    "id": "db-1",
    "name": "caf\u00e9",
    "labels": {"b": "2", "a": "1", "\u00e9": "3"},
    "size": 2**64,
    "ratio": Decimal("0.1"),
    "flags": ["y", "x", "y"],
    "ports": [5432, 1.5, -(2**63)],
    "pair": ["p", True],
    "extra": DynamicValue(List(NUMBER), [1, Decimal("2.5")]),
    "nested": {"enabled": False, "host": UNKNOWN, "tags": None},
}


def test_fast_paths_handle_a_typical_object(fast_only):
    canonical = conform(COMMON_VALUE, COMMON)
    assert canonical["labels"] == {"a": "1", "b": "2", "\u00e9": "3"}
    assert list(canonical["labels"]) == ["a", "b", "\u00e9"]
    assert canonical["flags"] == ["x", "y"]
    assert canonical["ports"] == [5432, 1.5, -(2**63)]
    wire = encode(COMMON_VALUE, COMMON)
    assert decode(wire, COMMON) == {**canonical, "ports": [5432, Decimal("1.5"), -(2**63)]}


def test_fast_and_reference_encodings_agree_on_a_typical_object():
    assert encode(COMMON_VALUE, COMMON) == _msgpack_stream.encode(COMMON_VALUE, COMMON)


def test_fast_paths_handle_refined_unknowns(fast_only):
    t = object_type({"s": STRING, "n": NUMBER, "l": List(STRING)})
    value = {
        "s": Unknown(Refinements(not_null=True, string_prefix="ab")),
        "n": Unknown(Refinements(number_lower=(0, True))),
        "l": Unknown(Refinements(length_upper=3)),
    }
    wire = encode(value, t)
    assert decode(wire, t) == value
    assert decode(wire, t) == value  # a second time, from the decoder's cache
    not_null = bytes.fromhex("c7030c8101c2")  # decoded without the reference's payload reader
    assert decode(not_null, List(STRING)) == Unknown(Refinements(not_null=True))
    assert decode(not_null, DYNAMIC) == UNKNOWN  # refinements of a dynamic unknown are dropped


def test_input_the_fast_path_leaves_to_the_reference(monkeypatch):
    calls = []
    reference = _msgpack_stream.decode

    def spy(data, t):
        calls.append(bytes(data).hex())
        return reference(data, t)

    monkeypatch.setattr(_msgpack_stream, "decode", spy)
    assert decode(bytes.fromhex("c40568656c6c6f"), STRING) == "hello"  # bin string
    assert decode(bytes.fromhex("81c0a0"), Map(STRING)) == {"": ""}  # nil key
    assert decode(bytes.fromhex("d4ff00"), STRING) == UNKNOWN  # msgpack's parser rejects this ext -1
    assert len(calls) == 3
    assert decode(bytes.fromhex("81a161a162"), object_type({"a": STRING})) == {"a": "b"}
    assert len(calls) == 3  # the common form stays on the fast path
    with pytest.raises(CtyError, match="unexpected trailing data"):
        decode(bytes.fromhex("0101"), NUMBER)


def test_conform_falls_back_for_unusual_forms(monkeypatch):
    calls = []
    reference = values._conform_slow

    def spy(value, t):
        calls.append(t)
        return reference(value, t)

    monkeypatch.setattr(values, "_conform_slow", spy)
    assert conform(DynamicValue(STRING, "x"), STRING) == "x"
    assert conform(("a", "b"), List(STRING)) == ["a", "b"]  # tuples are handled by the fast path
    assert len(calls) == 1
    with pytest.raises(CtyError) as e:
        conform({"a": {"x": 1}}, object_type({"a": Map(STRING)}))
    assert str(e.value) == 'at .a["x"]: expected string, got int'


@SETTINGS
@given(typed_values(unknowns=True))
def test_fast_paths_agree_with_reference(tv):
    t, value = tv
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(values, "_conformer", _unavailable)
        mp.setattr(msgpack_codec, "_packable", _unavailable)
        mp.setattr(msgpack_codec, "_decoder", _unavailable)
        reference_canonical = conform(value, t)
        reference_wire = encode(value, t)
        reference_decoded = decode(reference_wire, t)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_msgpack_stream, "encode", _forbidden)
        mp.setattr(_msgpack_stream, "decode", _forbidden)
        mp.setattr(values, "_conform_slow", _forbidden)
        assert conform(value, t) == reference_canonical
        assert encode(value, t) == reference_wire
        assert decode(reference_wire, t) == reference_decoded


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except CtyError as e:
        return ("error", str(e))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_values(unknowns=True), st.randoms(use_true_random=False), st.integers(0, 3))
def test_decode_of_damaged_input_matches_reference(tv, rnd, how):
    t, value = tv
    data = damage(encode(value, t), rnd, how)
    assert _outcome(decode, data, t) == _outcome(_msgpack_stream.decode, data, t)


def test_decode_of_random_bytes_matches_reference():
    rnd = random.Random(4321)
    for _ in range(3000):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 24)))
        t = rnd.choice(FUZZ_TYPES)
        assert _outcome(decode, data, t) == _outcome(_msgpack_stream.decode, data, t)


@pytest.mark.parametrize(
    ("t", "value"),
    [
        (STRING, 1),
        (NUMBER, float("nan")),
        (NUMBER, Decimal("1e20000")),
        (List(STRING), ["a", 1]),
        (Map(STRING), {1: "a"}),
        (object_type({"a": STRING}), {"b": "x"}),
        (Tuple((STRING,)), ["a", "b"]),
        (DYNAMIC, DynamicValue(DYNAMIC, "x")),
        (List(DYNAMIC), [DynamicValue(STRING, "a"), DynamicValue(NUMBER, 1)]),
        (STRING, "\ud800"),
    ],
)
def test_errors_match_reference(t, value):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(values, "_conformer", _unavailable)
        mp.setattr(msgpack_codec, "_packable", _unavailable)
        expected = _outcome(encode, value, t)
    assert expected[0] == "error"
    assert _outcome(encode, value, t) == expected
