"""The registry of managed resources; each lives in its own module here, its test beside it."""

from __future__ import annotations

from provider.framework.resource import Resource
from provider.resources.backup import Backup
from provider.resources.backup_strategy import BackupStrategy
from provider.resources.database_fork import DatabaseFork
from provider.resources.service import Service

RESOURCES: tuple[type[Resource], ...] = (Service, Backup, BackupStrategy, DatabaseFork)
