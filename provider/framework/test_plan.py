from provider.cty import types as cty
from provider.cty.values import UNKNOWN
from provider.framework.plan import plan_change
from provider.framework.plan_modifiers import REQUIRES_REPLACE, USE_STATE_FOR_UNKNOWN
from provider.framework.schema import Attribute, Block, Schema

SCHEMA = Schema(
    Block(
        attributes={
            "id": Attribute(type=cty.STRING, computed=True, plan_modifiers=(USE_STATE_FOR_UNKNOWN,)),
            "name": Attribute(type=cty.STRING, required=True, plan_modifiers=(REQUIRES_REPLACE,)),
            "plan": Attribute(type=cty.STRING, optional=True),
            "color": Attribute(type=cty.STRING, optional=True, computed=True, default="blue"),
            "state": Attribute(type=cty.STRING, computed=True),
            "secret_wo": Attribute(type=cty.STRING, optional=True, write_only=True),
        }
    )
)
CONFIG = {"id": None, "name": "a", "plan": "small", "color": None, "state": None, "secret_wo": "x"}
PRIOR = {"id": "1", "name": "a", "plan": "small", "color": "blue", "state": "RUNNING", "secret_wo": None}


def test_create_marks_computed_unknown_and_applies_defaults() -> None:
    planned, replace = plan_change(SCHEMA, None, dict(CONFIG), CONFIG)
    assert planned == {
        "id": UNKNOWN,
        "name": "a",
        "plan": "small",
        "color": "blue",
        "state": UNKNOWN,
        "secret_wo": None,
    }
    assert replace == []


def test_no_change_keeps_prior_values() -> None:
    proposed = dict(PRIOR, secret_wo="x")  # Terraform's proposal: config merged with prior computed values
    planned, replace = plan_change(SCHEMA, PRIOR, proposed, CONFIG)
    assert planned == PRIOR and replace == []


def test_in_place_change_unknowns_computed_except_use_state_for_unknown() -> None:
    proposed = dict(PRIOR, plan="large")
    planned, replace = plan_change(SCHEMA, PRIOR, proposed, dict(CONFIG, plan="large"))
    assert planned["plan"] == "large" and planned["state"] == UNKNOWN and planned["id"] == "1"
    assert replace == []


def test_requires_replace_names_the_attribute() -> None:
    proposed = dict(PRIOR, name="b")
    _, replace = plan_change(SCHEMA, PRIOR, proposed, dict(CONFIG, name="b"))
    assert replace == [("name",)]


def test_unknown_configuration_stays_unknown_and_requires_replace() -> None:
    proposed = dict(PRIOR, name=UNKNOWN)
    planned, replace = plan_change(SCHEMA, PRIOR, proposed, dict(CONFIG, name=UNKNOWN))
    assert planned["name"] == UNKNOWN and replace == [("name",)]


def test_use_state_for_unknown_keeps_a_null_prior_value() -> None:
    schema = Schema(
        Block(
            attributes={
                "label": Attribute(type=cty.STRING, optional=True),
                "parent": Attribute(
                    type=cty.STRING,
                    optional=True,
                    computed=True,
                    plan_modifiers=(USE_STATE_FOR_UNKNOWN, REQUIRES_REPLACE),
                ),
            }
        )
    )
    prior = {"label": "a", "parent": None}
    planned, replace = plan_change(schema, prior, {"label": "b", "parent": None}, {"label": "b", "parent": None})
    assert planned == {"label": "b", "parent": None} and replace == []


def test_defaults_apply_inside_nested_attributes() -> None:
    from provider.framework.schema import NestedAttributes

    schema = Schema(
        Block(
            attributes={
                "source": Attribute(
                    optional=True,
                    nested=NestedAttributes(
                        {
                            "handle": Attribute(type=cty.STRING, required=True),
                            "plugin": Attribute(type=cty.STRING, optional=True, computed=True, default="pgbackrest"),
                        }
                    ),
                )
            }
        )
    )
    config = {"source": {"handle": "h", "plugin": None}}
    planned, _ = plan_change(schema, None, {"source": {"handle": "h", "plugin": None}}, config)
    assert planned == {"source": {"handle": "h", "plugin": "pgbackrest"}}
