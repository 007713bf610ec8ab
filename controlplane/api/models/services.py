"""Request and response bodies of /services, named as the HCL attributes are (DESIGN §2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,62}$"
ServiceName = Annotated[str, Field(pattern=NAME_PATTERN, description="Lowercase letters, digits and dashes; "
                                   "starts with a letter; at most 63 characters.")]
RegionName = Annotated[str, Field(min_length=1, max_length=63)]


class UserConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    additional_backup_regions: list[RegionName] = Field(
        default_factory=list, max_length=16,
        description="Regions that receive a copy of every backup and its WAL (only for pg and mysql).")


class ServiceBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cloud: RegionName = Field(description="The region the service runs in.")
    plan: Annotated[str, Field(min_length=1, max_length=63)] = Field(
        description="hobbyist, startup-4 or business-8.")
    user_config: UserConfig = Field(default_factory=UserConfig)
    termination_protection: bool = False


class ServiceCreate(ServiceBase):
    name: ServiceName
    service_type: Annotated[str, Field(min_length=1, max_length=32)] = Field(description="pg")
    version: Annotated[str, Field(max_length=8)] | None = Field(default=None, description="15 (the default)")


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


class RegionPublic(BaseModel):
    name: str
    description: str


class RegionList(BaseModel):
    regions: list[RegionPublic]


class ServiceList(BaseModel):
    services: list[ServicePublic]
