"""Bodies of the backup-to-another-region report (Aiven's replication lag report)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Period = Literal["hour", "day", "week", "month", "year"]


class ReportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period = Field(description="The length of the report: hour, day, week, month or year.", examples=["day"])


class LagSample(BaseModel):
    """The largest lag sampled in the bucket [time, time + bucket_seconds).

    `time` is a multiple of `bucket_seconds` since the epoch (UTC): every report puts its buckets there.
    """

    time: datetime = Field(description="The start of the bucket.", examples=["2026-11-30T03:00:00Z"])
    lag_seconds: float = Field(description="The largest lag sampled in the bucket.", examples=[1.5])


class RegionReport(BaseModel):
    region: str = Field(description="The additional backup region.", examples=["local-west"])
    status: str = Field(description="ok, failing, or pending before the first sample.", examples=["ok"])
    lag_seconds: float = Field(
        description="Now: how long the oldest object the copy lacks has been in the primary store.", examples=[0.8]
    )
    message: str | None = Field(description="Why the copy is failing; null otherwise.", examples=[None])
    samples: list[LagSample] = Field(
        description="The largest lag in each bucket of the period, oldest first.",
        examples=[[{"time": "2026-11-30T03:00:00Z", "lag_seconds": 1.5}]],
    )


class Report(BaseModel):
    period: Period = Field(description="The period asked for.", examples=["day"])
    bucket_seconds: int = Field(description="The length of each bucket of samples.", examples=[900])
    regions: list[RegionReport] = Field(description="One report per additional backup region.", examples=[[]])
    archive_gap: str | None = Field(
        default=None,
        description="WAL missing from the service's own archive after its newest backup (its store stayed "
        "unreachable longer than the WAL queue allows): copies lack it too, until the next full backup. "
        "Null when the archive is whole.",
        examples=[None],
    )
