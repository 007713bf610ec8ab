"""A small provider, defined for the end-to-end tests, that stores its objects as JSON files.

It exercises the framework the way a real provider does (validation, replacement, computed values,
defaults, nested attributes, timeouts, import, waits that honour StopProvider) while the tests can
look at the files to see what really exists. Its plugin executable is `python -m tests.e2e.testing_plugin`.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from provider.cty import types as cty
from provider.cty.values import is_unknown
from provider.framework.diagnostics import DiagnosticError, Diagnostics
from provider.framework.plan_modifiers import REQUIRES_REPLACE, USE_STATE_FOR_UNKNOWN
from provider.framework.resource import ApplyRequest, DataSource, Provider, ReadRequest, Resource
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.framework.timeouts import timeout_for, timeouts_block
from provider.framework.validators import Between, Matches

ITEM_ATTRIBUTES = {
    "id": Attribute(type=cty.STRING, computed=True, plan_modifiers=(USE_STATE_FOR_UNKNOWN,)),
    "name": Attribute(
        type=cty.STRING,
        required=True,
        plan_modifiers=(REQUIRES_REPLACE,),
        validators=(Matches(r"[a-z][a-z0-9-]{0,30}", "a lowercase name"),),
    ),
    "value": Attribute(type=cty.STRING, optional=True),
    "labels": Attribute(type=cty.Map(cty.STRING), optional=True),
    "secret": Attribute(type=cty.STRING, optional=True, sensitive=True),
    "create_delay": Attribute(
        type=cty.NUMBER,
        optional=True,
        validators=(Between(0, 600),),
        description="Seconds the create waits after the object exists.",
    ),
    "settings": Attribute(
        optional=True,
        computed=True,
        nested=NestedAttributes(
            {
                "size": Attribute(type=cty.NUMBER, optional=True, computed=True),
                "tier": Attribute(type=cty.STRING, optional=True, computed=True),
            }
        ),
    ),
    "color": Attribute(type=cty.STRING, optional=True, computed=True, default="blue"),
    "password_wo": Attribute(
        type=cty.STRING,
        optional=True,
        write_only=True,
        description="Never stored: only its length is, in password_length.",
    ),
    "password_length": Attribute(type=cty.NUMBER, computed=True, plan_modifiers=(USE_STATE_FOR_UNKNOWN,)),
    "created_at": Attribute(type=cty.STRING, computed=True, plan_modifiers=(USE_STATE_FOR_UNKNOWN,)),
    "revision": Attribute(type=cty.NUMBER, computed=True),
}


class Item(Resource):
    type_name = "testing_item"
    schema = Schema(Block(attributes=ITEM_ATTRIBUTES, blocks={"timeouts": timeouts_block(create="1m")}), version=1)

    @property
    def store(self) -> Path:
        return Path(self.provider_data)

    def create(self, request: ApplyRequest) -> None:
        planned = _known(request.planned or {})
        started = time.time()
        item = {key: planned.get(key) for key in ("name", "value", "labels", "secret", "create_delay", "color")}
        password = (request.config or {}).get("password_wo")  # write-only: only the configuration has it
        item.update(
            id=str(uuid.uuid4()),
            created_at=f"{started:.6f}",
            revision=1,
            password_length=len(password) if password else None,
            settings=planned.get("settings") or {"size": 1, "tier": None},
        )
        self._write(item)
        request.state = dict(item, timeouts=planned.get("timeouts"))
        self._wait(request, float(planned.get("create_delay") or 0), timeout_for(request.config, "create", "1m"))
        self._write(dict(item, finished_at=f"{time.time():.6f}"))

    def read(self, request: ReadRequest) -> dict[str, Any] | None:
        path = self.store / f"{request.state['id']}.json"
        if not path.exists():
            return None
        item = json.loads(path.read_text())
        item.pop("finished_at", None)
        return dict(item, timeouts=request.state.get("timeouts"))

    def update(self, request: ApplyRequest) -> None:
        assert request.prior is not None and request.planned is not None
        planned = _known(request.planned)
        item = json.loads((self.store / f"{request.prior['id']}.json").read_text())
        for key in ("value", "labels", "secret", "create_delay", "color"):
            item[key] = planned.get(key)
        settings = {key: value for key, value in (planned.get("settings") or {}).items() if value is not None}
        item["settings"] = {**item["settings"], **settings}
        item["revision"] = int(item["revision"]) + 1
        self._write(item)
        item.pop("finished_at", None)
        request.state = dict(item, timeouts=planned.get("timeouts"))

    def delete(self, request: ApplyRequest) -> None:
        assert request.prior is not None
        (self.store / f"{request.prior['id']}.json").unlink(missing_ok=True)

    def import_state(self, import_id: str, diagnostics: Diagnostics) -> dict[str, Any]:
        for path in self.store.glob("*.json"):
            item = json.loads(path.read_text())
            if item["name"] == import_id:
                return {"id": item["id"]}
        diagnostics.error("Cannot import", f"no item named {import_id!r}", None)
        return {}

    def upgrade_state(self, version: int, state: Any) -> dict[str, Any]:
        # Version 0 called the value "data".
        upgraded = dict(state)
        upgraded["value"] = upgraded.pop("data", None)
        return upgraded

    def _write(self, item: dict[str, Any]) -> None:
        path = self.store / f"{item['id']}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(item))
        os.replace(temporary, path)

    @staticmethod
    def _wait(request: ApplyRequest, seconds: float, timeout: float) -> None:
        deadline = time.monotonic() + min(seconds, timeout)
        while time.monotonic() < deadline:
            if request.stop.wait(0.05):
                raise DiagnosticError("Interrupted", "the create was interrupted; the item exists and is in state")
        if seconds > timeout:
            raise DiagnosticError(
                "Timeout", f"the item was not ready within {timeout:g}s; it is kept in state", ("timeouts", "create")
            )


def _known(value: Any) -> Any:
    """The value with every unknown part (computed, decided by us now) as null."""
    if is_unknown(value):
        return None
    if isinstance(value, dict):
        return {key: _known(item) for key, item in value.items()}
    return value


class Trigger(Resource):
    """null_resource's schema (an id and a map that replaces the object when it changes), stored as a file: the
    plan benchmark sets it beside the Go null provider, so that both sides give Terraform the same schema."""

    type_name = "testing_trigger"
    schema = Schema(
        Block(
            attributes={
                "id": Attribute(type=cty.STRING, computed=True, plan_modifiers=(USE_STATE_FOR_UNKNOWN,)),
                "triggers": Attribute(type=cty.Map(cty.STRING), optional=True, plan_modifiers=(REQUIRES_REPLACE,)),
            }
        )
    )

    def create(self, request: ApplyRequest) -> None:
        trigger = {"id": str(uuid.uuid4()), "triggers": (request.planned or {}).get("triggers")}
        (Path(self.provider_data) / f"{trigger['id']}.trigger").write_text(json.dumps(trigger))
        request.state = trigger

    def read(self, request: ReadRequest) -> dict[str, Any] | None:
        path = Path(self.provider_data) / f"{request.state['id']}.trigger"
        return json.loads(path.read_text()) if path.exists() else None

    def delete(self, request: ApplyRequest) -> None:
        assert request.prior is not None
        (Path(self.provider_data) / f"{request.prior['id']}.trigger").unlink(missing_ok=True)


class ItemData(DataSource):
    type_name = "testing_item"
    schema = Schema(
        Block(
            attributes={
                "name": Attribute(type=cty.STRING, required=True),
                "id": Attribute(type=cty.STRING, computed=True),
                "value": Attribute(type=cty.STRING, computed=True),
            }
        )
    )

    def read(self, config: dict[str, Any], diagnostics: Diagnostics) -> dict[str, Any]:
        for path in Path(self.provider_data).glob("*.json"):
            item = json.loads(path.read_text())
            if item["name"] == config["name"]:
                return {"name": item["name"], "id": item["id"], "value": item["value"]}
        raise DiagnosticError("Not found", f"no item named {config['name']!r}", ("name",))


class TestingProvider(Provider):
    type_name = "testing"
    schema = Schema(Block(attributes={"directory": Attribute(type=cty.STRING, required=True)}))
    resources = (Item, Trigger)
    data_sources = (ItemData,)

    def configure(self, config: dict[str, Any], terraform_version: str, diagnostics: Diagnostics) -> Any:
        directory = config.get("directory")
        if not directory or not os.path.isdir(directory):
            diagnostics.error("Invalid directory", f"{directory!r} is not a directory", ("directory",))
        return directory
