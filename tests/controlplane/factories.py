"""Catalog rows for tests that need a service but no server behind it."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from controlplane.catalog import services
from controlplane.catalog.models import Service


def new_service(session: Session, *, project: str = "acme", name: str = "db1", **overrides: Any) -> Service:
    fields: dict[str, Any] = {
        "service_type": "pg",
        "cloud": "local-east",
        "plan": "hobbyist",
        "version": "15",
        "user_config": {},
        "termination_protection": False,
        "username": "dbaasadmin",
        "password": "secret",
        "data_dir": f"/srv/{project}/{name}",
    }
    return services.create_service(session, project=project, name=name, **{**fields, **overrides})
