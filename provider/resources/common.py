"""What every dbaas resource shares: the provider's settings, ids, and turning API errors into diagnostics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from provider.config import ProviderConfig
from provider.cty import types as cty
from provider.cty.values import is_unknown
from provider.framework.diagnostics import DiagnosticError
from provider.framework.paths import format_path
from provider.framework.plan_modifiers import REQUIRES_REPLACE, USE_STATE_FOR_UNKNOWN
from provider.framework.resource import PlanRequest
from provider.framework.schema import Attribute

if TYPE_CHECKING:
    from provider.client.api import Client

# API field names are the HCL attribute names (docs/design.md), so an API error's field is an attribute path.
ID = Attribute(
    type=cty.STRING, computed=True, plan_modifiers=(USE_STATE_FOR_UNKNOWN,), description="The import ID of the object."
)
PROJECT = Attribute(
    type=cty.STRING,
    optional=True,
    computed=True,
    plan_modifiers=(USE_STATE_FOR_UNKNOWN, REQUIRES_REPLACE),
    description="The project; defaults to the provider's `project`.",
)


def computed(kind: cty.Type, description: str, *, sensitive: bool = False) -> Attribute:
    """A value the control plane decides and that keeps its value across plans unless replaced."""
    return Attribute(
        type=kind, computed=True, sensitive=sensitive, plan_modifiers=(USE_STATE_FOR_UNKNOWN,), description=description
    )


def client_of(provider_data: object) -> Client:
    """The control plane's client the provider configured; an error diagnostic if Terraform has not configured
    the provider for this call."""
    if not isinstance(provider_data, ProviderConfig):
        raise DiagnosticError("Provider not configured", "the dbaas provider was not configured for this call", None)
    return provider_data.client


def project_of(provider_data: object, value: dict[str, Any] | None) -> str:
    """The project of a resource: its own `project`, else the provider's."""
    own = (value or {}).get("project")
    project = own if isinstance(own, str) and own else _provider_project(provider_data)
    if not isinstance(project, str) or not project:
        raise DiagnosticError(
            "Missing project", "set `project` on the resource, on the provider, or DBAAS_PROJECT", ("project",)
        )
    return project


def _provider_project(provider_data: object) -> str | None:
    return provider_data.project if isinstance(provider_data, ProviderConfig) else None


def plan_default_project(provider_data: object, plan: PlanRequest) -> None:
    """Show the provider's project in the plan rather than "(known after apply)"."""
    project = _provider_project(provider_data)
    if is_unknown(plan.planned.get("project")) and project:
        plan.planned["project"] = project


def split_id(import_id: str, parts: int, example: str) -> list[str]:
    pieces = import_id.split("/")
    if len(pieces) != parts or not all(pieces):
        raise DiagnosticError("Invalid import ID", f"expected {example}, got {import_id!r}")
    return pieces


@contextmanager
def api_errors(action: str, paths: Callable[[str | None], tuple[str, ...] | None] = lambda f: None) -> Iterator[None]:
    """API errors become diagnostics that point at the attribute the control plane named."""
    from provider.client.api import ApiError, Cancelled, Timeout

    try:
        yield
    except ApiError as err:
        path = paths(err.field) if err.field else None
        field_path = path if path is not None else (tuple(err.field.split(".")) if err.field else None)
        # Terraform shows a nested attribute's diagnostic at its resource block: the detail names the path.
        detail = f"{format_path(field_path)}: {err.message}" if field_path and len(field_path) > 1 else err.message
        raise DiagnosticError(f"Could not {action}", detail, field_path) from err
    except Timeout as err:
        # After a create, Terraform marks the object tainted and plans its replacement; after an update
        # or delete, the next apply carries on from the object as it is.
        advice = (
            "The object is kept in state, marked tainted: the next apply replaces it (`terraform untaint` "
            "keeps it instead)"
            if action.startswith(("create", "fork"))
            else "The object is kept in state; apply again to continue"
        )
        raise DiagnosticError(
            f"Timed out: {action}", f"{err}. {advice}, or raise the timeout in the `timeouts` block.", ("timeouts",)
        ) from err
    except Cancelled as err:
        raise DiagnosticError(f"Interrupted: {action}", f"{err}. The object is kept in state.") from err
