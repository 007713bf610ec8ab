"""The FastAPI application: routers, error shape, and the runtime it serves."""

from __future__ import annotations

from fastapi import FastAPI

from controlplane.api import errors
from controlplane.api.body_limit import BodyLimit
from controlplane.api.request_id import RequestId
from controlplane.api.routes import backups, regions, replication, restore_tests, services, strategies
from controlplane.runtime import Runtime


def create_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="dbaas control plane",
        version="1",
        description="Managed PostgreSQL services, their backups, copies to other regions and forks.",
    )
    app.state.runtime = runtime
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
