"""Checks of service fields against what this control plane offers; each error names its field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path

from croniter import CroniterBadDateError, croniter

from controlplane.domain.errors import Invalid
from controlplane.engine.plans import PLANS
from controlplane.settings import Settings

# PostgreSQL 15 (with pgBackRest), and "mysql": MariaDB 10.11 (with mariabackup).
SERVICE_TYPES = {"pg": ("15",), "mysql": ("10.11",)}
# The service type each backup plugin's backups restore into, and the plugin that backs up each type.
PLUGIN_ENGINES = {"pgbackrest": "pg", "mariabackup": "mysql"}
BACKUP_PLUGINS = {engine: plugin for plugin, engine in PLUGIN_ENGINES.items()}
BACKUP_REGION_TYPES = {"pg", "mysql"}  # Aiven: backup to another region exists only for these
# Every firing of a schedule is a full backup or a restore test, each minutes of a server's work: a tenant
# may not ask for more than four an hour. croniter also reads a sixth (seconds) and a seventh (year) field;
# classic five-field cron only, so that no expression fires more often than once a minute to begin with.
CRON_FIELDS = 5
MIN_SCHEDULE_MINUTES = 15
_DAY_MINUTES = 24 * 60


def check_service_type(service_type: str, version: str | None) -> str:
    """The effective version."""
    if service_type not in SERVICE_TYPES:
        raise Invalid(
            "service_type",
            f"unsupported service type {service_type!r}; supported: "
            f"{', '.join(sorted(SERVICE_TYPES))} (mysql is MariaDB 10.11)",
        )
    versions = SERVICE_TYPES[service_type]
    if version is None:
        return versions[-1]
    if version not in versions:
        raise Invalid("version", f"{service_type} version {version!r} is not offered; offered: {', '.join(versions)}")
    return version


def check_cloud(settings: Settings, cloud: str) -> None:
    if settings.region(cloud) is None:
        raise Invalid("cloud", f"unknown region {cloud!r}; regions: {', '.join(r.name for r in settings.regions)}")


def check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise Invalid("plan", f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")


def check_backup_regions(settings: Settings, regions: Sequence[str], *, service_type: str, cloud: str) -> None:
    """The `user_config.additional_backup_regions` of a service of `service_type` in `cloud`."""
    field = "user_config.additional_backup_regions"
    if not regions:
        return
    if service_type not in BACKUP_REGION_TYPES:
        raise Invalid(field, f"backups to another region are only available for pg and mysql, not {service_type}")
    if len(set(regions)) != len(regions):
        raise Invalid(field, "a region is listed twice")
    for region in regions:
        if settings.region(region) is None:
            raise Invalid(field, f"unknown region {region!r}")
        if region == cloud:
            raise Invalid(field, f"{region!r} is the service's own cloud; backups already live there")


def check_schedule(schedule: str, field: str = "schedule") -> None:
    """A five-field cron expression whose times of day lie at least MIN_SCHEDULE_MINUTES apart, the last
    of a day and the first of the next included; the error names `field`."""
    example = '(e.g. "0 3 * * *" for 03:00 every day)'
    if len(schedule.split()) != CRON_FIELDS or not croniter.is_valid(schedule):
        raise Invalid(
            field, f"not a cron expression: {schedule!r}; five fields: minute hour day month weekday {example}"
        )
    try:
        croniter(schedule).get_next(datetime)
    except CroniterBadDateError as err:
        # e.g. "0 0 30 2 *": the scheduler could never say when it last fired.
        raise Invalid(field, f"{schedule!r} never fires {example}") from err
    minutes, hours = croniter.expand(schedule)[0][:2]
    # Whichever days it fires on, a day's firings are these times of day; counting the wrap past midnight
    # as if the next day fired too is the safe side (it refuses "5,55 0,23 1 * *" though a month lies between).
    times = sorted(60 * hour + minute for hour in _every(hours, 24) for minute in _every(minutes, 60))
    gaps = [later - earlier for earlier, later in pairwise(times)]
    closest = min([*gaps, times[0] + _DAY_MINUTES - times[-1]])
    if closest < MIN_SCHEDULE_MINUTES:
        raise Invalid(
            field,
            f"{schedule!r} fires {closest} minute(s) apart; firings must be at least "
            f"{MIN_SCHEDULE_MINUTES} minutes apart {example}",
        )


def _every(values: Sequence[int | str], size: int) -> list[int]:
    """A field expanded by croniter, where "*" stands for the whole range 0..size-1."""
    return list(range(size)) if values == ["*"] else [int(value) for value in values]


def contained_path(root: Path, *names: str, field: str) -> Path:
    """root/names..., refused unless it resolves to exactly that path inside `root` (already resolved): no
    name may climb out of it, and no symbolic link planted on the way may lead elsewhere."""
    path = root.joinpath(*names)
    if path.resolve() != path or not path.is_relative_to(root) or path == root:
        raise Invalid(field, f"{'/'.join(names)!r} does not lie inside {root}")
    return path
