"""What a resource or data source implements, and the requests the framework hands it.

Values are cty values as plain Python (see provider/cty/values.py): objects are dicts holding every
attribute. Provider code reports problems by raising DiagnosticError or adding to `diagnostics`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from provider.framework.diagnostics import Diagnostics
from provider.framework.paths import Path
from provider.framework.schema import Schema
from provider.framework.validators import ConfigValidator


class PlanRequest:
    __slots__ = ("config", "diagnostics", "planned", "prior", "private", "requires_replace")

    def __init__(
        self,
        prior: dict[str, Any] | None,  # None: the object is being created
        config: dict[str, Any],
        planned: dict[str, Any],  # change it to refine the plan
        private: bytes,
        diagnostics: Diagnostics,
        requires_replace: list[Path] | None = None,
    ) -> None:
        self.prior = prior
        self.config = config
        self.planned = planned
        self.private = private
        self.diagnostics = diagnostics
        self.requires_replace: list[Path] = requires_replace if requires_replace is not None else []


class ApplyRequest:
    __slots__ = ("config", "diagnostics", "planned", "prior", "private", "state", "stop")

    def __init__(
        self,
        prior: dict[str, Any] | None,
        planned: dict[str, Any] | None,
        config: dict[str, Any] | None,
        private: bytes,
        diagnostics: Diagnostics,
        stop: threading.Event,  # set when Terraform asks the provider to stop (Ctrl-C)
        state: dict[str, Any] | None = None,
    ) -> None:
        self.prior = prior
        self.planned = planned
        self.config = config
        self.private = private
        self.diagnostics = diagnostics
        self.stop = stop
        # The object as it exists now. Set it as soon as the object exists, before any wait, so that a
        # failure, timeout or interrupt afterwards still leaves the object in Terraform's state.
        self.state = state


class ReadRequest:
    __slots__ = ("diagnostics", "private", "state")

    def __init__(self, state: dict[str, Any], private: bytes, diagnostics: Diagnostics) -> None:
        self.state = state
        self.private = private
        self.diagnostics = diagnostics


class Resource:
    """A managed resource; subclasses set `type_name` and `schema` and override the operations."""

    type_name: ClassVar[str]
    schema: ClassVar[Schema]
    config_validators: ClassVar[tuple[ConfigValidator, ...]] = ()

    def __init__(self, provider_data: Any = None) -> None:
        self.provider_data = provider_data

    def modify_plan(self, request: PlanRequest) -> None:
        """Refine the plan beyond what the schema's defaults and plan modifiers did."""

    def create(self, request: ApplyRequest) -> None:
        raise NotImplementedError

    def read(self, request: ReadRequest) -> dict[str, Any] | None:
        """The object as it is now, or None when it no longer exists."""
        raise NotImplementedError

    def update(self, request: ApplyRequest) -> None:
        raise NotImplementedError

    def delete(self, request: ApplyRequest) -> None:
        raise NotImplementedError

    def import_state(self, import_id: str, diagnostics: Diagnostics) -> dict[str, Any]:
        """A state (identifying attributes are enough: ReadResource fills in the rest)."""
        diagnostics.error("Import not supported", f"{self.type_name} cannot be imported")
        return {}

    def upgrade_state(self, version: int, state: Mapping[str, Any]) -> dict[str, Any]:
        """A state stored by schema `version` turned into the current version, in one step."""
        return dict(state)


class DataSource:
    type_name: ClassVar[str]
    schema: ClassVar[Schema]
    config_validators: ClassVar[tuple[ConfigValidator, ...]] = ()

    def __init__(self, provider_data: Any = None) -> None:
        self.provider_data = provider_data

    def read(self, config: dict[str, Any], diagnostics: Diagnostics) -> dict[str, Any]:
        raise NotImplementedError


class Provider:
    """The provider itself: its configuration schema, its resources and data sources."""

    type_name: ClassVar[str]
    schema: ClassVar[Schema]
    resources: ClassVar[tuple[type[Resource], ...]] = ()
    data_sources: ClassVar[tuple[type[DataSource], ...]] = ()
    config_validators: ClassVar[tuple[ConfigValidator, ...]] = ()

    def configure(self, config: dict[str, Any], terraform_version: str, diagnostics: Diagnostics) -> Any:
        """Returns what resources receive as `provider_data` (typically an API client)."""
        return None
