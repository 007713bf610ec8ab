from __future__ import annotations

from fastapi import APIRouter

from controlplane.api import responses
from controlplane.api.dependencies import RuntimeDep, TokenDep
from controlplane.api.models.services import RegionList, RegionPublic, ServiceTypeOffer
from controlplane.domain.validation import SERVICE_TYPES
from controlplane.engine.plans import PLANS

router = APIRouter(tags=["regions"], responses=responses.TOKEN_ERRORS)


@router.get("/v1/regions", response_model=RegionList)
def list_regions(runtime: RuntimeDep, token: TokenDep) -> RegionList:
    """The regions services can run in and back up to, each with the plans, engines and versions it offers
    (the very lists a service's create and update are checked against, so a client can check before it asks)."""
    # Every region of this control plane runs every plan and engine.
    plans = list(PLANS)
    service_types = [ServiceTypeOffer(name=name, versions=list(versions)) for name, versions in SERVICE_TYPES.items()]
    return RegionList(
        regions=[
            RegionPublic(
                name=region.name, description=f"region {region.name}", plans=plans, service_types=service_types
            )
            for region in runtime.settings.regions
        ]
    )
