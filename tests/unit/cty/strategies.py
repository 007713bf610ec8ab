"""Hypothesis strategies for cty types and values conforming to them (and damaged encodings)."""

from __future__ import annotations

from decimal import Decimal
from random import Random
from typing import Any

from hypothesis import strategies as st

from provider.cty.types import (
    BOOL,
    DYNAMIC,
    NUMBER,
    STRING,
    DynamicPseudoType,
    List,
    Map,
    Object,
    Primitive,
    Set,
    Tuple,
    Type,
    object_type,
)
from provider.cty.values import UNKNOWN, DynamicValue, Refinements, Unknown

names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)

leaf_types: st.SearchStrategy[Type] = st.sampled_from([BOOL, NUMBER, STRING, DYNAMIC])


def _extend(children: st.SearchStrategy[Type]) -> st.SearchStrategy[Type]:
    return st.one_of(
        st.builds(List, children),
        st.builds(Set, children),
        st.builds(Map, children),
        st.builds(lambda ts: Tuple(tuple(ts)), st.lists(children, max_size=3)),
        st.builds(
            lambda attrs, data: object_type(attrs, data.draw(st.sets(st.sampled_from(sorted(attrs)))) if attrs else ()),
            st.dictionaries(names, children, max_size=3),
            st.data(),
        ),
    )


types: st.SearchStrategy[Type] = st.recursive(leaf_types, _extend, max_leaves=6)
concrete_types = types.filter(lambda t: not isinstance(t, DynamicPseudoType))

# Integers well beyond int64 and exact decimals, the cases go-cty carries as strings.
big_ints = st.integers(min_value=-(10**40), max_value=10**40)
decimals = st.builds(
    lambda digits, exp: Decimal(f"{digits}E{exp}"),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.integers(min_value=-40, max_value=10),
)


def numbers(*, floats: bool) -> st.SearchStrategy[Any]:
    options = [st.integers(min_value=-(2**64), max_value=2**64), big_ints, decimals]
    if floats:
        options.append(st.floats(allow_nan=False))  # includes +/-inf
    return st.one_of(options)


def _bound() -> st.SearchStrategy[Any]:
    return st.tuples(st.one_of(st.integers(-1000, 1000), decimals), st.booleans())


def refinements_for(t: Type) -> st.SearchStrategy[Refinements]:
    nn = st.booleans()
    if t == STRING:
        return st.builds(Refinements, not_null=nn, string_prefix=st.one_of(st.none(), texts))
    if t == NUMBER:

        def ordered(lo: Any, hi: Any, which: int) -> Refinements:
            (a, ai), (b, bi) = lo, hi
            if which == 0:
                return Refinements(number_lower=lo)
            if which == 1:
                return Refinements(number_upper=hi)
            if a > b:
                a, b = b, a
            if a == b:
                ai = bi = True
            return Refinements(number_lower=(a, ai), number_upper=(b, bi))

        return st.builds(
            lambda r, n: Refinements(not_null=n, number_lower=r.number_lower, number_upper=r.number_upper),
            st.builds(ordered, _bound(), _bound(), st.integers(0, 2)),
            nn,
        )
    if isinstance(t, (List, Set, Map)):
        lengths = st.tuples(st.one_of(st.none(), st.integers(0, 4)), st.one_of(st.none(), st.integers(0, 4)))

        def with_len(n: bool, lh: tuple[int | None, int | None]) -> Refinements:
            lo, hi = lh
            if lo is not None and hi is not None and hi < lo:
                lo, hi = hi, lo
            return Refinements(not_null=n, length_lower=lo, length_upper=hi)

        return st.builds(with_len, nn, lengths)
    return st.builds(Refinements, not_null=nn)


def unknowns_for(t: Type) -> st.SearchStrategy[Any]:
    if isinstance(t, DynamicPseudoType):
        return st.just(UNKNOWN)
    return st.one_of(st.just(UNKNOWN), st.builds(Unknown, refinements_for(t)))


def values_for(t: Type, *, unknowns: bool, floats: bool = True, nulls: bool = True) -> st.SearchStrategy[Any]:
    """Values conforming to t (top-level null/unknown included when allowed)."""
    known = _known_for(t, unknowns=unknowns, floats=floats)
    options = [known, known, known]  # weight known values over nulls and unknowns
    if nulls:
        options.append(st.none())
    if unknowns:
        options.append(unknowns_for(t))
    return st.one_of(options)


def _elements(t: Type, *, unknowns: bool, floats: bool) -> st.SearchStrategy[list[Any]]:
    """Element lists for a collection; a DYNAMIC element type still means one concrete type."""
    if not isinstance(t, DynamicPseudoType):
        return st.lists(values_for(t, unknowns=unknowns, floats=floats), max_size=4)

    def for_type(ct: Type) -> st.SearchStrategy[list[Any]]:
        elem = st.builds(DynamicValue, st.just(ct), values_for(ct, unknowns=unknowns, floats=floats))
        extra = [st.none()] + ([st.just(UNKNOWN)] if unknowns else [])
        return st.lists(st.one_of(elem, *extra), max_size=4)

    return concrete_types.flatmap(for_type)


def _known_for(t: Type, *, unknowns: bool, floats: bool) -> st.SearchStrategy[Any]:
    kw = {"unknowns": unknowns, "floats": floats}
    if isinstance(t, Primitive):
        if t == STRING:
            return texts
        if t == BOOL:
            return st.booleans()
        return numbers(floats=floats)
    if isinstance(t, (List, Set)):
        return _elements(t.element, **kw)
    if isinstance(t, Map):
        return _elements(t.element, **kw).flatmap(
            lambda elems: st.lists(names, min_size=len(elems), max_size=len(elems), unique=True).map(
                lambda keys: dict(zip(keys, elems, strict=False))
            )
        )
    if isinstance(t, Tuple):
        return st.tuples(*(values_for(e, **kw) for e in t.elements)).map(list)
    if isinstance(t, Object):
        return st.fixed_dictionaries({n: values_for(a, **kw) for n, a in t.attributes})
    return concrete_types.flatmap(lambda ct: st.builds(DynamicValue, st.just(ct), values_for(ct, **kw)))


def typed_values(*, unknowns: bool, floats: bool = True) -> st.SearchStrategy[tuple[Type, Any]]:
    return types.flatmap(lambda t: st.tuples(st.just(t), values_for(t, unknowns=unknowns, floats=floats)))


def damage(wire: bytes, rnd: Random, how: int) -> bytes:
    """The encoding truncated (how 0), with a byte of trailing garbage (1), or with `how` bytes overwritten."""
    out = bytearray(wire)
    if how == 0 and out:
        del out[rnd.randrange(len(out)) :]
    elif how == 1:
        out += bytes([rnd.randrange(256)])
    elif out:
        for _ in range(how):
            out[rnd.randrange(len(out))] = rnd.randrange(256)
    return bytes(out)
