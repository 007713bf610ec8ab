"""What a running control plane holds: its settings, the catalog, and the job runner."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controlplane.catalog.db import read_sessions
from controlplane.catalog.tokens import CallerCache
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.binlog_archiver import BinlogArchiver
from controlplane.jobs.gap_watch import GapWatch
from controlplane.jobs.replicator import Replicator
from controlplane.jobs.runner import JobRunner
from controlplane.jobs.scheduler import Scheduler
from controlplane.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    archiving: Archiving  # the one owner of pgBackRest drivers and of where containers are stored
    runner: JobRunner
    scheduler: Scheduler
    replicator: Replicator
    gap_watch: GapWatch
    binlog_archiver: BinlogArchiver
    callers: CallerCache = field(default_factory=CallerCache)
    read_sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.read_sessions = read_sessions(self.sessions)
