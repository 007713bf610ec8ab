"""The FastAPI application: routers, error shape, and the runtime it serves."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute

from controlplane.api import errors
from controlplane.api.body_limit import BodyLimit
from controlplane.api.catalog_reads import CatalogReads
from controlplane.api.request_id import RequestId
from controlplane.api.routes import backups, regions, replication, restore_tests, services, strategies
from controlplane.runtime import Runtime


def operation_id(route: APIRoute) -> str:
    """The route function's name (`create_service`, `get_backup`): clients generated from the document keep
    their method names when a path changes, unlike FastAPI's default, which is built from the path."""
    return route.name


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="dbaas control plane",
        version="1",
        description="Managed PostgreSQL services, their backups, copies to other regions and forks.",
        generate_unique_id_function=operation_id,
        # The control plane exports no OpenTelemetry: off, a request does not look up its providers every time.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.runtime = runtime
    app.state.catalog_reads = CatalogReads(runtime.read_sessions)
    errors.install(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(RequestId)  # the last added runs first: a 413 from BodyLimit gets an id too
    app.include_router(regions.router)
    app.include_router(services.router)
    app.include_router(backups.router)
    app.include_router(restore_tests.router)
    app.include_router(strategies.router)
    app.include_router(replication.router)
    return app
