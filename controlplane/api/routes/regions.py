from __future__ import annotations

from fastapi import APIRouter

from controlplane.api import responses
from controlplane.api.dependencies import RuntimeDep, TokenDep
from controlplane.api.models.services import RegionList, RegionPublic

router = APIRouter(tags=["regions"], responses=responses.TOKEN_ERRORS)


@router.get("/v1/regions", response_model=RegionList)
def list_regions(runtime: RuntimeDep, token: TokenDep) -> RegionList:
    """The regions services can run in and back up to."""
    return RegionList(
        regions=[
            RegionPublic(name=region.name, description=f"region {region.name}") for region in runtime.settings.regions
        ]
    )
