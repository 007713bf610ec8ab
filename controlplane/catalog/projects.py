"""Projects: namespaces that own tokens and services."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import Project


def ensure_project(session: Session, *, name: str) -> Project:
    """The project `name`, created if it does not exist yet; safe when two transactions race to create it."""
    project = session.get(Project, name)
    if project is not None:
        return project
    try:
        # A savepoint: losing the race must not spoil the caller's transaction.
        with session.begin_nested():
            project = Project(name=name, created_at=now(session))
            session.add(project)
    except IntegrityError:
        found = session.get(Project, name)
        if found is None:
            raise
        return found
    return project
