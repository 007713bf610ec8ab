import pytest

from provider.cty import types as cty
from provider.cty.values import UNKNOWN
from provider.framework.diagnostics import Diagnostics
from provider.framework.paths import ElementKey, format_path
from provider.framework.schema import Attribute, Block, NestedAttributes
from provider.framework.timeouts import parse_duration
from provider.framework.validators import Between, Matches, OneOf, conflicting, is_duration, validate_block

BLOCK = Block(
    attributes={
        "name": Attribute(type=cty.STRING, required=True, validators=(Matches(r"[a-z]+", "lowercase letters"),)),
        "plan": Attribute(type=cty.STRING, optional=True, validators=(OneOf(("small", "large")),)),
        "regions": Attribute(
            optional=True,
            nested=NestedAttributes(
                {
                    "size": Attribute(type=cty.NUMBER, optional=True, validators=(Between(1, 10),)),
                },
                "map",
            ),
        ),
    }
)


def test_errors_carry_the_attribute_path() -> None:
    diagnostics = Diagnostics()
    validate_block(BLOCK, {"name": "Bad", "plan": "huge", "regions": {"west": {"size": 11}}}, diagnostics)
    assert [format_path(d.path or ()) for d in diagnostics.items] == ["name", "plan", 'regions["west"].size']
    assert "got 'Bad'" in diagnostics.items[0].detail
    # Terraform shows a nested attribute's diagnostic at its resource block: the summary names the whole path.
    assert diagnostics.items[2].summary == 'Invalid value for regions["west"].size'


def test_unknown_and_null_values_are_not_validated_yet() -> None:
    diagnostics = Diagnostics()
    validate_block(BLOCK, {"name": UNKNOWN, "plan": None, "regions": UNKNOWN}, diagnostics)
    assert diagnostics.items == []


def test_conflicting_attributes() -> None:
    diagnostics = Diagnostics()
    conflicting("parent", "incremental")({"parent": "p", "incremental": True}, diagnostics)
    [error] = diagnostics.items
    assert error.path == ("incremental",) and "parent" in error.detail


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("1h30m", 5400), ("250ms", 0.25), ("2h", 7200)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert is_duration(text) is None


@pytest.mark.parametrize("text", ["", "10", "5 m", "m5", "1d"])
def test_bad_durations(text: str) -> None:
    assert is_duration(text) is not None
    with pytest.raises(ValueError):
        parse_duration(text)


def test_path_formatting() -> None:
    assert format_path(("labels", ElementKey("team"))) == 'labels["team"]'
    assert format_path(("replicas", 0, "region")) == "replicas[0].region"
