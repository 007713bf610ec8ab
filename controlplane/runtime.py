"""What a running control plane holds: its settings, the catalog, and the job runner."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.jobs.replicator import Replicator
from controlplane.jobs.runner import JobRunner
from controlplane.jobs.scheduler import Scheduler
from controlplane.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    runner: JobRunner
    scheduler: Scheduler
    replicator: Replicator
