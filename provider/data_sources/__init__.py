"""The registry of data sources; each lives in its own module here, its test beside it."""

from __future__ import annotations

from provider.data_sources.backup_region_report import BackupRegionReportData
from provider.data_sources.backups import BackupsData
from provider.data_sources.regions import Regions
from provider.data_sources.service import ServiceData
from provider.framework.resource import DataSource

DATA_SOURCES: tuple[type[DataSource], ...] = (Regions, ServiceData, BackupsData, BackupRegionReportData)
