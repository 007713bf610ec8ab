"""Bodies of the backup-to-another-region report (Aiven's replication lag report)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Period = Literal["hour", "day", "week", "month", "year"]


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period


class LagSample(BaseModel):
    """The largest lag sampled in the bucket [time, time + bucket_seconds).

    `time` is a multiple of `bucket_seconds` since the epoch (UTC): every report puts its buckets there.
    """

    time: datetime
    lag_seconds: float


class RegionReport(BaseModel):
    region: str
    status: str  # "ok", "failing", or "pending" before the first sample
    lag_seconds: float  # now: how long the oldest object the copy lacks has been in the primary store
    message: str | None
    samples: list[LagSample]


class Report(BaseModel):
    period: Period
    bucket_seconds: int
    regions: list[RegionReport]
