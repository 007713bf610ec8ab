"""The tfplugin6.Provider service: each RPC decoded, handed to the provider's code, encoded back.

Every RPC answers with a response: a failure becomes an error diagnostic, never a gRPC error, so
Terraform shows it to the user with the attribute it concerns. Calls run concurrently (one thread
each); provider data is set once by ConfigureProvider before resources are used.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from provider.cty.errors import CtyError
from provider.framework.diagnostics import DiagnosticError, Diagnostics
from provider.framework.paths import Path, path_to_proto
from provider.framework.resource import ApplyRequest, DataSource, PlanRequest, Provider, ReadRequest, Resource
from provider.framework.schema import Schema, schema_to_proto
from provider.framework.validators import validate_block
from provider.framework.values import decode_dynamic, encode_dynamic, load_state_json
from provider.plugin import tfplugin6

log = logging.getLogger(__name__)
Handler = Callable[["ProviderServer", Any, Diagnostics], Any]
T = TypeVar("T")


# The stop event of the call being served: set when Terraform stops the provider (StopProvider) or gives up on
# the call (it cancelled the call or let its deadline pass: the gRPC server sets the context's `cancelled`).
_call_stop: ContextVar[threading.Event | None] = ContextVar("call_stop", default=None)


def rpc(method: Handler) -> Callable[..., Any]:
    """Runs an RPC with a Diagnostics collector; whatever goes wrong ends up in the response's diagnostics."""
    response_type = getattr(tfplugin6, method.__name__).Response

    @functools.wraps(method)
    def call(self: ProviderServer, request: Any, context: object) -> Any:
        diagnostics = Diagnostics()
        try:
            with self._serving(getattr(context, "cancelled", None)):
                response = method(self, request, diagnostics)
        except DiagnosticError as err:
            diagnostics.items.append(err.diagnostic)
            response = response_type()
        except CtyError as err:
            diagnostics.error("Invalid value received from Terraform", str(err))
            response = response_type()
        except Exception as err:  # a provider bug must reach the user, not kill the call
            log.exception("%s failed", method.__name__)
            diagnostics.error("Unexpected provider error", f"{type(err).__name__}: {err}")
            response = response_type()
        response.diagnostics.extend(diagnostics.to_proto())
        return response

    return call


class ProviderServer:
    def __init__(self, provider: Provider) -> None:
        self._provider = provider
        self._resources: dict[str, type[Resource]] = {cls.type_name: cls for cls in provider.resources}
        self._data_sources: dict[str, type[DataSource]] = {cls.type_name: cls for cls in provider.data_sources}
        self._provider_data: Any = None
        # The schema messages of the provider, its resources and its data sources, made by the first GetProviderSchema.
        self._schemas: tuple[tfplugin6.Schema, dict[str, tfplugin6.Schema], dict[str, tfplugin6.Schema]] | None = None
        self.stop = threading.Event()
        self._in_flight: set[threading.Event] = set()  # the `cancelled` events of the calls being served
        self._in_flight_lock = threading.Lock()

    # -- metadata and schema -------------------------------------------------------------------

    @rpc
    def GetMetadata(self, request: Any, diagnostics: Diagnostics) -> Any:
        return tfplugin6.GetMetadata.Response(
            server_capabilities=_capabilities(),
            resources=[tfplugin6.GetMetadata.ResourceMetadata(type_name=name) for name in self._resources],
            data_sources=[tfplugin6.GetMetadata.DataSourceMetadata(type_name=name) for name in self._data_sources],
        )

    @rpc
    def GetProviderSchema(self, request: Any, diagnostics: Diagnostics) -> Any:
        if self._schemas is None:
            self._schemas = (
                schema_to_proto(self._provider.schema),
                {n: schema_to_proto(c.schema) for n, c in self._resources.items()},
                {n: schema_to_proto(c.schema) for n, c in self._data_sources.items()},
            )
        provider, resources, data_sources = self._schemas
        return tfplugin6.GetProviderSchema.Response(
            provider=provider,
            resource_schemas=resources,
            data_source_schemas=data_sources,
            server_capabilities=_capabilities(),
        )

    # -- validation and configuration ---------------------------------------------------------

    @rpc
    def ValidateProviderConfig(self, request: Any, diagnostics: Diagnostics) -> Any:
        _validate(self._provider, request.config, diagnostics)
        return tfplugin6.ValidateProviderConfig.Response()

    @rpc
    def ValidateResourceConfig(self, request: Any, diagnostics: Diagnostics) -> Any:
        _validate(self._resource_class(request.type_name), request.config, diagnostics)
        return tfplugin6.ValidateResourceConfig.Response()

    @rpc
    def ValidateDataResourceConfig(self, request: Any, diagnostics: Diagnostics) -> Any:
        _validate(self._data_source_class(request.type_name), request.config, diagnostics)
        return tfplugin6.ValidateDataResourceConfig.Response()

    @rpc
    def ConfigureProvider(self, request: Any, diagnostics: Diagnostics) -> Any:
        config = decode_dynamic(request.config, self._provider.schema.cty_type())
        self._provider_data = _provider_code(
            "Provider Configure", self._provider.configure, config, request.terraform_version, diagnostics
        )
        return tfplugin6.ConfigureProvider.Response()

    # -- managed resources --------------------------------------------------------------------

    @rpc
    def UpgradeResourceState(self, request: Any, diagnostics: Diagnostics) -> Any:
        cls = self._resource_class(request.type_name)
        if request.raw_state is None or not request.raw_state.json:
            raise DiagnosticError("Unsupported state", "state in the legacy flatmap format cannot be upgraded")
        if request.version > cls.schema.version:
            raise DiagnosticError(
                "State from a newer provider",
                f"the state of this {request.type_name} was written by schema version {request.version}, "
                f"this provider knows versions up to {cls.schema.version}: upgrade the provider",
            )
        state = load_state_json(request.raw_state.json)
        if request.version < cls.schema.version:
            state = _provider_code(
                "Resource UpgradeState", cls(self._provider_data).upgrade_state, request.version, state
            )
        return tfplugin6.UpgradeResourceState.Response(upgraded_state=encode_dynamic(state, cls.schema.cty_type()))

    @rpc
    def ReadResource(self, request: Any, diagnostics: Diagnostics) -> Any:
        cls = self._resource_class(request.type_name)
        value_type = cls.schema.cty_type()
        state = decode_dynamic(request.current_state, value_type)
        response = tfplugin6.ReadResource.Response(new_state=request.current_state, private=request.private)
        if state is None:
            return response
        try:
            read = cls(self._provider_data).read
            new_state = _provider_code("Resource Read", read, ReadRequest(state, request.private, diagnostics))
        except DiagnosticError as err:
            diagnostics.items.append(err.diagnostic)
            return response
        response.new_state = encode_dynamic(new_state, value_type)
        return response

    @rpc
    def PlanResourceChange(self, request: Any, diagnostics: Diagnostics) -> Any:
        cls = self._resource_class(request.type_name)
        value_type = cls.schema.cty_type()
        proposed = decode_dynamic(request.proposed_new_state, value_type)
        response = tfplugin6.PlanResourceChange.Response(planned_private=request.prior_private)
        if proposed is None:  # destroy: nothing to plan
            response.planned_state = request.proposed_new_state
            return response
        from provider.framework.plan import plan_change  # not needed by the launches that only read schemas

        prior = decode_dynamic(request.prior_state, value_type)
        config = decode_dynamic(request.config, value_type)
        planned, replace = plan_change(cls.schema, prior, proposed, config)
        plan = PlanRequest(prior, config, planned, request.prior_private, diagnostics, replace)
        _provider_code("Resource ModifyPlan", cls(self._provider_data).modify_plan, plan)
        response.planned_state = encode_dynamic(plan.planned, value_type)
        response.requires_replace.extend(_paths_to_proto(plan.requires_replace))
        response.planned_private = plan.private
        return response

    @rpc
    def ApplyResourceChange(self, request: Any, diagnostics: Diagnostics) -> Any:
        cls = self._resource_class(request.type_name)
        value_type = cls.schema.cty_type()
        prior = decode_dynamic(request.prior_state, value_type)
        planned = decode_dynamic(request.planned_state, value_type)
        config = decode_dynamic(request.config, value_type)
        stop = _call_stop.get() or self.stop
        apply = ApplyRequest(prior, planned, config, request.planned_private, diagnostics, stop, state=prior)
        resource = cls(self._provider_data)
        operation = resource.delete if planned is None else resource.create if prior is None else resource.update
        try:
            _provider_code(f"Resource {operation.__name__.capitalize()}", operation, apply)
            if planned is None:
                apply.state = None
            elif apply.state is None:
                diagnostics.error("Provider bug", f"{request.type_name} {operation.__name__} returned no state")
        except DiagnosticError as err:
            diagnostics.items.append(err.diagnostic)
        except Exception as err:
            log.exception("%s of %s failed", operation.__name__, request.type_name)
            diagnostics.error(f"Could not {operation.__name__} {request.type_name}", f"{type(err).__name__}: {err}")
        if apply.state is not None:
            from provider.framework.plan import drop_write_only

            drop_write_only(cls.schema.block, apply.state)
        # Whatever exists is reported, even after an error: Terraform keeps it in state (tainted).
        return tfplugin6.ApplyResourceChange.Response(
            new_state=encode_dynamic(apply.state, value_type), private=apply.private
        )

    @rpc
    def ImportResourceState(self, request: Any, diagnostics: Diagnostics) -> Any:
        cls = self._resource_class(request.type_name)
        state = _provider_code("Resource ImportState", cls(self._provider_data).import_state, request.id, diagnostics)
        if diagnostics.has_errors:
            return tfplugin6.ImportResourceState.Response()
        return tfplugin6.ImportResourceState.Response(
            imported_resources=[
                tfplugin6.ImportResourceState.ImportedResource(
                    type_name=request.type_name, state=encode_dynamic(state, cls.schema.cty_type())
                )
            ]
        )

    @rpc
    def MoveResourceState(self, request: Any, diagnostics: Diagnostics) -> Any:
        raise DiagnosticError(
            "Move not supported", f"{request.target_type_name} cannot be moved from {request.source_type_name}"
        )

    # -- data sources -------------------------------------------------------------------------

    @rpc
    def ReadDataSource(self, request: Any, diagnostics: Diagnostics) -> Any:
        cls = self._data_source_class(request.type_name)
        value_type = cls.schema.cty_type()
        config = decode_dynamic(request.config, value_type)
        state = _provider_code("DataSource Read", cls(self._provider_data).read, config, diagnostics)
        if diagnostics.has_errors:
            return tfplugin6.ReadDataSource.Response()
        return tfplugin6.ReadDataSource.Response(state=encode_dynamic(state, value_type))

    # -- what this provider does not offer: answered, never UNIMPLEMENTED -----------------------

    @rpc
    def ValidateEphemeralResourceConfig(self, request: Any, diagnostics: Diagnostics) -> Any:
        raise _no_ephemeral(request.type_name)

    @rpc
    def OpenEphemeralResource(self, request: Any, diagnostics: Diagnostics) -> Any:
        raise _no_ephemeral(request.type_name)

    @rpc
    def RenewEphemeralResource(self, request: Any, diagnostics: Diagnostics) -> Any:
        raise _no_ephemeral(request.type_name)

    @rpc
    def CloseEphemeralResource(self, request: Any, diagnostics: Diagnostics) -> Any:
        raise _no_ephemeral(request.type_name)

    @rpc
    def GetFunctions(self, request: Any, diagnostics: Diagnostics) -> Any:
        return tfplugin6.GetFunctions.Response()

    def CallFunction(self, request: Any, context: object) -> Any:
        return tfplugin6.CallFunction.Response(
            error=tfplugin6.FunctionError(text=f"this provider has no function {request.name!r}")
        )

    def StopProvider(self, request: Any, context: object) -> Any:
        """Advisory: waits in progress give up; the provider keeps serving."""
        log.info("Terraform asked the provider to stop: cancelling waits in progress")
        with self._in_flight_lock:
            self.stop.set()
            for cancelled in self._in_flight:
                cancelled.set()
        return tfplugin6.StopProvider.Response()

    @contextmanager
    def _serving(self, cancelled: threading.Event | None) -> Iterator[None]:
        """While a call is served, its `cancelled` event (from the gRPC server) is its stop event too."""
        if cancelled is None:
            yield
            return
        with self._in_flight_lock:
            self._in_flight.add(cancelled)
            if self.stop.is_set():
                cancelled.set()
        token = _call_stop.set(cancelled)
        try:
            yield
        finally:
            _call_stop.reset(token)
            with self._in_flight_lock:
                self._in_flight.discard(cancelled)

    # -- helpers --------------------------------------------------------------------------------

    def _resource_class(self, type_name: str) -> type[Resource]:
        if type_name not in self._resources:
            raise DiagnosticError("Unknown resource type", f"this provider has no resource type {type_name!r}")
        return self._resources[type_name]

    def _data_source_class(self, type_name: str) -> type[DataSource]:
        if type_name not in self._data_sources:
            raise DiagnosticError("Unknown data source", f"this provider has no data source {type_name!r}")
        return self._data_sources[type_name]


def _provider_code(what: str, operation: Callable[..., T], *args: Any) -> T:
    """`operation(*args)` between the debug lines terraform-plugin-framework writes around provider code."""
    log.debug("Calling provider defined %s", what)
    result = operation(*args)
    log.debug("Called provider defined %s", what)
    return result


def _validate(owner: type[Resource | DataSource] | Provider, message: Any, diagnostics: Diagnostics) -> None:
    schema: Schema = owner.schema
    config = decode_dynamic(message, schema.cty_type())
    validate_block(schema.block, config, diagnostics)
    if config is not None:
        for validator in owner.config_validators:
            validator(config, diagnostics)


def _capabilities() -> tfplugin6.ServerCapabilities:
    return tfplugin6.ServerCapabilities(
        plan_destroy=False, get_provider_schema_optional=True, move_resource_state=False
    )


def _paths_to_proto(paths: list[Path]) -> list[tfplugin6.AttributePath]:
    return [path_to_proto(path) for path in paths]


def _no_ephemeral(type_name: str) -> DiagnosticError:
    return DiagnosticError("Unknown ephemeral resource", f"this provider has no ephemeral resource {type_name!r}")
