"""Checks of service fields against what this control plane offers; each error names its field."""

from __future__ import annotations

from controlplane.api.errors import invalid
from controlplane.api.models.services import UserConfig
from controlplane.engine.plans import PLANS
from controlplane.settings import Settings

SERVICE_TYPES = {"pg": ("15",)}
BACKUP_REGION_TYPES = {"pg", "mysql"}  # Aiven: backup to another region exists only for these


def check_service_type(service_type: str, version: str | None) -> str:
    """The effective version."""
    if service_type not in SERVICE_TYPES:
        raise invalid(
            "service_type",
            f"unsupported service type {service_type!r}; supported: "
            f"{', '.join(sorted(SERVICE_TYPES))} (mysql is planned)",
        )
    versions = SERVICE_TYPES[service_type]
    if version is None:
        return versions[-1]
    if version not in versions:
        raise invalid("version", f"{service_type} version {version!r} is not offered; offered: {', '.join(versions)}")
    return version


def check_cloud(settings: Settings, cloud: str) -> None:
    if settings.region(cloud) is None:
        raise invalid("cloud", f"unknown region {cloud!r}; regions: {', '.join(r.name for r in settings.regions)}")


def check_plan(plan: str) -> None:
    if plan not in PLANS:
        raise invalid("plan", f"unknown plan {plan!r}; plans: {', '.join(PLANS)}")


def check_user_config(settings: Settings, user_config: UserConfig, *, service_type: str, cloud: str) -> None:
    regions = user_config.additional_backup_regions
    field = "user_config.additional_backup_regions"
    if not regions:
        return
    if service_type not in BACKUP_REGION_TYPES:
        raise invalid(field, f"backups to another region are only available for pg and mysql, not {service_type}")
    if len(set(regions)) != len(regions):
        raise invalid(field, "a region is listed twice")
    for region in regions:
        if settings.region(region) is None:
            raise invalid(field, f"unknown region {region!r}")
        if region == cloud:
            raise invalid(field, f"{region!r} is the service's own cloud; backups already live there")
