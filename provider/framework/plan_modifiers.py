"""Plan modifiers: per-attribute rules applied while planning a resource change."""

from __future__ import annotations

from typing import Any, Protocol

from provider.cty.values import Unknown
from provider.framework.paths import Path


class AttributePlan:
    """One attribute's slice of a plan; modifiers may change `planned` and `requires_replace`."""

    __slots__ = ("config", "creating", "path", "planned", "prior", "requires_replace")

    def __init__(self, path: Path, config: Any, prior: Any, planned: Any, creating: bool) -> None:
        self.path = path
        self.config = config
        self.prior = prior
        self.planned = planned
        self.creating = creating
        self.requires_replace = False


class PlanModifier(Protocol):
    def modify(self, plan: AttributePlan) -> None: ...


class RequiresReplace:
    """A change of this attribute destroys and re-creates the object."""

    def modify(self, plan: AttributePlan) -> None:
        if not plan.creating and plan.planned != plan.prior:
            plan.requires_replace = True


class UseStateForUnknown:
    """A computed value that never changes after creation keeps its prior value instead of "(known after apply)".

    A null prior value is kept too: for an object that exists, null is what the provider decided (a full
    backup's parent), not a value still to come.
    """

    def modify(self, plan: AttributePlan) -> None:
        if not plan.creating and isinstance(plan.planned, Unknown):
            plan.planned = plan.prior


REQUIRES_REPLACE = RequiresReplace()
USE_STATE_FOR_UNKNOWN = UseStateForUnknown()
