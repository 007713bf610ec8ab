"""POST …/services/{service}/backup_to_another_region/report: the replication lag to each backup region."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from controlplane.api import responses
from controlplane.api.dependencies import ProjectDep, ReadSessionDep, RuntimeDep
from controlplane.api.models.replication import LagSample, RegionReport, Report, ReportRequest
from controlplane.catalog import replication
from controlplane.domain.services import existing_service
from controlplane.jobs.archiving import Archiving
from controlplane.jobs.replicator import STATUS_FAILING, CopyTarget, copy_targets
from controlplane.storage.stores import StoreUnavailable

router = APIRouter(
    prefix="/v1/projects/{project}/services/{service}",
    tags=["backup to another region"],
    responses=responses.PROJECT_ERRORS,
)

# Each period's length and bucket: about a hundred points or fewer per report. Each length is a whole
# number of buckets, so the period's first bucket moves only when its last (the current one) does.
PERIODS = {
    "hour": (3600, 60),
    "day": (86400, 900),
    "week": (7 * 86400, 3600),
    "month": (30 * 86400, 6 * 3600),
    "year": (365 * 86400, 86400),
}


def wall_clock() -> float:
    """Now, in seconds since the epoch; a dependency so that a test can read the report at chosen moments."""
    return time.time()


ClockDep = Annotated[float, Depends(wall_clock)]


@router.post("/backup_to_another_region/report", response_model=Report)
def report(
    service: str, body: ReportRequest, project: ProjectDep, session: ReadSessionDep, runtime: RuntimeDep, now: ClockDep
) -> Report:
    """Per additional backup region: status, the lag now, and the largest lag in each bucket of the period.

    The buckets run from the one that holds the start of the period to the current one, on the clock.
    """
    found = existing_service(session, project=project, name=service)
    archive_gap = found.archive_gap
    length, bucket = PERIODS[body.period]
    until = int(now)
    targets = copy_targets(runtime.settings, runtime.archiving, session, found)
    read = []
    for region in (found.user_config or {}).get("additional_backup_regions") or []:
        latest = replication.latest_lag_sample(session, service_id=found.id, region=region)
        buckets = replication.lag_buckets(
            session, service_id=found.id, region=region, since=until - length, until=until, bucket_seconds=bucket
        )
        read.append((region, latest, buckets))
    session.commit()  # the stores are walked with no catalog transaction open
    regions = []
    for region, latest, buckets in read:
        status, message = (latest.status, latest.message) if latest is not None else ("pending", None)
        lag: float | None = None
        # A region where the replicator keeps failing is not waited on again (its store answers with errors,
        # or not at all); a store that cannot be listed now fails the region too.
        if status != STATUS_FAILING:
            lag, unreachable = _current_lag(runtime.archiving, [t for t in targets if t.region == region], now)
            if unreachable is not None:
                status, message = STATUS_FAILING, unreachable
        if lag is None:  # unknown now: the last sample's, grown since
            lag = latest.lag_seconds + now - latest.sampled_at if latest is not None else 0.0
        regions.append(
            RegionReport(
                region=region,
                status=status,
                lag_seconds=round(max(0.0, lag), 3),
                message=message,
                samples=[LagSample(time=datetime.fromtimestamp(t, UTC), lag_seconds=worst) for t, worst in buckets],
            )
        )
    return Report(period=body.period, bucket_seconds=bucket, regions=regions, archive_gap=archive_gap)


def _current_lag(archiving: Archiving, targets: list[CopyTarget], now: float) -> tuple[float | None, str | None]:
    """(the lag now, None) from what the copies lack; (None, why) when a store cannot be listed."""
    oldest = []
    for target in targets:
        try:
            pending = target.plan(archiving).oldest_pending()
        except StoreUnavailable as exc:
            return None, str(exc)
        if pending is not None:
            oldest.append(pending)
    return (now - min(oldest) if oldest else 0.0), None
