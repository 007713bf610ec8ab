"""Request and response bodies of /services, named as the HCL attributes are (DESIGN §2)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from controlplane.domain.backups import BACKUP_NAME_PATTERN

# The one rule for project and service names: both become directory names under a region's services
# directory and parts of stanza names, so nothing else ("..", "/", upper case) may get through.
NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
NAME_RULE = "Lowercase letters, digits and dashes; starts with a letter; at most 63 characters."
ServiceName = Annotated[str, Field(pattern=NAME_PATTERN, description=NAME_RULE)]
ProjectName = ServiceName


def is_valid_name(name: str) -> bool:
    """Whether `name` follows the rule of project and service names (for callers outside a request model)."""
    return re.fullmatch(NAME_PATTERN, name) is not None


RegionName = Annotated[str, Field(min_length=1, max_length=63)]


class UserConfig(BaseModel):
    """Settings of the service beyond its size and place."""

    model_config = ConfigDict(extra="forbid")

    additional_backup_regions: list[RegionName] = Field(
        default_factory=list,
        max_length=16,
        description="Regions that receive a copy of every backup and its WAL (only for pg and mysql).",
        examples=[["local-west"]],
    )


class ForkFrom(BaseModel):
    """Restore another service's backups into the new service (Aiven fork, Trove restore)."""

    model_config = ConfigDict(extra="forbid")

    project: ProjectName | None = Field(
        default=None, description="The source's project. Default: this project.", examples=["acme"]
    )
    service: ServiceName = Field(description="The source service. " + NAME_RULE, examples=["orders"])
    backup: Annotated[str, Field(pattern=BACKUP_NAME_PATTERN)] | None = Field(
        default=None, description="Restore exactly this backup of the source.", examples=["nightly"]
    )
    recovery_target_time: datetime | None = Field(
        default=None,
        description="Point in time to recover to (RFC 3339); absent: the latest transaction. For mysql the "
        "resolution is one second (MariaDB stamps binary log events to the second): the fork keeps every commit "
        "of earlier seconds and none of the target's own second.",
        examples=["2026-11-30T12:00:00Z"],
    )


class RestoredFrom(BaseModel):
    """What a fork was actually restored from, once its restore has ended."""

    backup: str | None = Field(
        description="The source's backup restored; null if none was named.", examples=["nightly"]
    )
    region: str = Field(description="The region whose copy of the backups was read.", examples=["local-east"])
    recovery_time: datetime | None = Field(
        description="The time of the last commit the fork replayed; null when it replayed none.",
        examples=["2026-11-30T11:59:58.123456Z"],
    )


class ServiceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud: RegionName = Field(description="The region the service runs in.", examples=["local-east"])
    plan: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="hobbyist, startup-4 or business-8.", examples=["hobbyist"]
    )
    user_config: UserConfig = Field(
        default_factory=UserConfig,
        description="Settings beyond size and place.",
        examples=[{"additional_backup_regions": ["local-west"]}],
    )
    termination_protection: bool = Field(
        default=False, description="While true, the service cannot be deleted.", examples=[False]
    )


class ServiceCreate(ServiceBase):
    name: ServiceName = Field(description="The service's name in its project. " + NAME_RULE, examples=["orders"])
    service_type: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None,
        description='The database engine: "pg" (PostgreSQL 15) or "mysql" (MariaDB 10.11). Required, but for a fork,'
        " which takes its source's (a `service_type` given must be the same).",
        examples=["pg"],
    )
    version: Annotated[str, Field(max_length=8)] | None = Field(
        default=None,
        description="The engine's major version: 15 for pg, 10.11 for mysql (the defaults).",
        examples=["15"],
    )
    fork_from: ForkFrom | None = Field(
        default=None,
        description="Make the service a fork: restore another service's backups into it.",
        examples=[{"service": "orders", "recovery_target_time": "2026-11-30T12:00:00Z"}],
    )


class ServiceUpdate(BaseModel):
    """Only what changes in place; a `cloud` change migrates the service to that region."""

    model_config = ConfigDict(extra="forbid")

    cloud: RegionName | None = Field(
        default=None, description="Move the service to this region, its data kept.", examples=["local-west"]
    )
    plan: Annotated[str, Field(min_length=1, max_length=63)] | None = Field(
        default=None, description="Restart the server with this plan's settings.", examples=["startup-4"]
    )
    user_config: UserConfig | None = Field(
        default=None,
        description="Replaces the whole user_config.",
        examples=[{"additional_backup_regions": ["local-west"]}],
    )
    termination_protection: bool | None = Field(
        default=None, description="Turn deletion protection on or off.", examples=[True]
    )


class ServicePublic(ServiceBase):
    project: str = Field(description="The service's project.", examples=["acme"])
    name: str = Field(description="The service's name in its project.", examples=["orders"])
    service_type: str = Field(description="The database engine.", examples=["pg"])
    version: str = Field(description="The engine's major version.", examples=["15"])
    state: str = Field(description="REBUILDING, RUNNING, POWEROFF, FAILED or DELETING", examples=["RUNNING"])
    state_message: str | None = Field(description="Why the service FAILED; null otherwise.", examples=[None])
    host: str | None = Field(description="Where the server listens; null until it first runs.", examples=["127.0.0.1"])
    port: int | None = Field(description="The server's TCP port; null until it first runs.", examples=[54321])
    username: str = Field(description="The service's user: owns its database, no superuser.", examples=["dbaasadmin"])
    password: str = Field(description="The service user's password.", examples=["k8Xq2vN7pR4tW9zB1cD6fG3h"])
    uri: str | None = Field(
        description="How to connect, null until the server first runs: a libpq URI of the postgres database for "
        "pg, mysql://user:password@host:port/defaultdb for mysql.",
        examples=["postgres://dbaasadmin:k8Xq2vN7pR4tW9zB1cD6fG3h@127.0.0.1:54321/postgres"],
    )
    created_at: datetime = Field(description="When the service was created.", examples=["2026-11-30T09:00:00Z"])
    updated_at: datetime = Field(description="When the service last changed.", examples=["2026-11-30T09:00:02Z"])
    fork_from: ForkFrom | None = Field(
        default=None, description="What the service was forked from; null for a new one.", examples=[None]
    )
    restored_from: RestoredFrom | None = Field(
        default=None, description="What a fork's restore actually used; null before it ends.", examples=[None]
    )
    archive_gap: str | None = Field(
        default=None,
        description="WAL missing from the archive after the newest backup, when a store stayed unreachable longer "
        "than the WAL queue allows: nothing after the time it names can be restored until the next full backup. "
        "Null when the archive is whole.",
        examples=[None],
    )


class ServiceTypeOffer(BaseModel):
    """A database engine a region runs, and its major versions."""

    name: str = Field(description="The engine, as a service's `service_type` gives it.", examples=["pg"])
    versions: list[str] = Field(
        description="Its major versions, oldest first; the last is the default of a service that names none.",
        examples=[["15"]],
    )


REGION_EXAMPLE = {
    "name": "local-east",
    "description": "region local-east",
    "plans": ["hobbyist", "startup-4", "business-8"],
    "service_types": [{"name": "pg", "versions": ["15"]}, {"name": "mysql", "versions": ["10.11"]}],
}


class RegionPublic(BaseModel):
    """A region services can run in and back up to, and what a service there may be."""

    name: str = Field(description="The region's name, as `cloud` and backup regions give it.", examples=["local-east"])
    description: str = Field(description="The region, for people.", examples=["region local-east"])
    plans: list[str] = Field(
        description="The plans a service in this region may take, as its `plan` gives them.",
        examples=[REGION_EXAMPLE["plans"]],
    )
    service_types: list[ServiceTypeOffer] = Field(
        description="The engines a service in this region may run, each with its versions.",
        examples=[REGION_EXAMPLE["service_types"]],
    )


class RegionList(BaseModel):
    regions: list[RegionPublic] = Field(description="Every region.", examples=[[REGION_EXAMPLE]])


class ServiceList(BaseModel):
    services: list[ServicePublic] = Field(description="A page of services, by name.", examples=[[]])
    next_page_token: str | None = Field(
        default=None, description="The token of the next page; null on the last.", examples=["WyJvcmRlcnMiLCJhY21lIl0"]
    )
