"""Request and response bodies of /services, named as the HCL attributes are (DESIGN §2)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

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
    model_config = ConfigDict(extra="forbid")

    additional_backup_regions: list[RegionName] = Field(
        default_factory=list,
        max_length=16,
        description="Regions that receive a copy of every backup and its WAL (only for pg and mysql).",
    )


class ForkFrom(BaseModel):
    """Restore another service's backups into the new service (Aiven fork, Trove restore)."""

    model_config = ConfigDict(extra="forbid")

    project: ProjectName | None = Field(default=None, description="Default: this project.")
    service: ServiceName
    backup: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")] | None = Field(
        default=None, description="Restore exactly this backup of the source."
    )
    recovery_target_time: datetime | None = Field(
        default=None, description="Point in time to recover to (RFC 3339); absent: the latest transaction."
    )


class RestoredFrom(BaseModel):
    backup: str | None
    region: str
    recovery_time: datetime | None


class ServiceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud: RegionName = Field(description="The region the service runs in.")
    plan: Annotated[str, Field(min_length=1, max_length=63)] = Field(description="hobbyist, startup-4 or business-8.")
    user_config: UserConfig = Field(default_factory=UserConfig)
    termination_protection: bool = False


class ServiceCreate(ServiceBase):
    name: ServiceName
    service_type: Annotated[str, Field(min_length=1, max_length=32)] = Field(description="pg")
    version: Annotated[str, Field(max_length=8)] | None = Field(default=None, description="15 (the default)")
    fork_from: ForkFrom | None = None


class ServiceUpdate(BaseModel):
    """Only what changes in place; a `cloud` change migrates the service to that region."""

    model_config = ConfigDict(extra="forbid")

    cloud: RegionName | None = None
    plan: Annotated[str, Field(min_length=1, max_length=63)] | None = None
    user_config: UserConfig | None = None
    termination_protection: bool | None = None


class ServicePublic(ServiceBase):
    project: str
    name: str
    service_type: str
    version: str
    state: str = Field(description="REBUILDING, RUNNING, POWEROFF, FAILED or DELETING")
    state_message: str | None
    host: str | None
    port: int | None
    username: str
    password: str
    uri: str | None
    created_at: datetime
    updated_at: datetime
    fork_from: ForkFrom | None = None
    restored_from: RestoredFrom | None = None


class RegionPublic(BaseModel):
    name: str
    description: str


class RegionList(BaseModel):
    regions: list[RegionPublic]


class ServiceList(BaseModel):
    services: list[ServicePublic]
    next_page_token: str | None = Field(default=None, description="The token of the next page; null on the last.")
