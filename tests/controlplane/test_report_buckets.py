"""The backup-to-another-region report's buckets sit on the clock: each starts at a multiple of its width
since the epoch (UTC), so two reads within one bucket agree and a closed bucket keeps its value.

Samples are rows written at known times; no server runs. The catalog tests run on SQLite and PostgreSQL
(`sessions` from conftest.py); the API tests read the report in process, at moments set by the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from controlplane.api.app import create_app
from controlplane.api.routes.replication import PERIODS, wall_clock
from controlplane.bootstrap import build_runtime
from controlplane.catalog import replication, tokens
from controlplane.catalog.db import transaction
from controlplane.settings import load_settings
from tests.controlplane.factories import new_service

HOUR = 1_800_000_000 - 1_800_000_000 % 3600  # 2027-01-15T08:00:00Z, an hour's start
REPORT = "/v1/projects/acme/services/orders/backup_to_another_region/report"


def add_samples(session: Session, service_id: int, samples: dict[int, float]) -> None:
    for sampled_at, lag in samples.items():
        replication.add_lag_sample(
            session, service_id=service_id, region="local-west", sampled_at=sampled_at, lag_seconds=lag, status="ok",
            message=None,
        )  # fmt: skip


# --- the catalog: lag_buckets ---------------------------------------------------------------------


def test_buckets_are_aligned_and_whole(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        service = new_service(session)
        add_samples(session, service.id, {
            HOUR - 1: 7.0,  # the bucket before the one that holds `since`: left out
            HOUR + 5: 1.0,  # before `since`, but in its bucket: a bucket is always whole
            HOUR + 50: 3.0,
            HOUR + 61: 2.0,
            HOUR + 119: 4.0,
            HOUR + 659: 5.0,  # after `until`, but in its bucket
            HOUR + 660: 8.0,  # the bucket after the one that holds `until`: left out
        })  # fmt: skip
    expected = [(HOUR, 3.0), (HOUR + 60, 4.0), (HOUR + 600, 5.0)]

    def read(since: int, until: int) -> list[tuple[int, float]]:
        with transaction(sessions) as session:
            return replication.lag_buckets(
                session, service_id=service.id, region="local-west", since=since, until=until, bucket_seconds=60
            )

    assert read(HOUR + 30, HOUR + 630) == expected
    assert read(HOUR, HOUR + 600) == expected, "the same buckets, read at their first second"
    assert read(HOUR + 59, HOUR + 659) == expected, "the same buckets, read at their last second"
    assert read(HOUR + 60, HOUR + 660) == [(HOUR + 60, 4.0), (HOUR + 600, 5.0), (HOUR + 660, 8.0)]


# --- the API: what a user reads -------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, list[float]]]:
    """A report to read through HTTP in process, and the clock it reads (set `clock[0]`).

    The service has samples at every bucket width over more than each period: denser nearer the hour.
    """
    runtime = build_runtime(load_settings(tmp_path_factory.mktemp("report")))
    # (how far back, one sample every): each step is shorter than the width of the buckets it fills.
    spans = [(7200, 13), (2 * 86400, 7 * 60), (8 * 86400, 53 * 60), (32 * 86400, 307 * 60), (400 * 86400, 23 * 3600)]
    times = {t for back, step in spans for t in range(HOUR - back, HOUR + 3600, step)}
    with transaction(runtime.sessions) as session:
        token = tokens.create_token(session, project="acme")
        service = new_service(session, name="orders", user_config={"additional_backup_regions": ["local-west"]})
        add_samples(session, service.id, {t: float(t % 97) for t in times})  # lags that vary
    clock = [float(HOUR)]
    app = create_app(runtime)
    app.dependency_overrides[wall_clock] = lambda: clock[0]
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {token}"}) as client:
            yield client, clock
    finally:
        runtime.engine.dispose()


def read_report(client: TestClient, period: str) -> dict[str, Any]:
    response = client.post(REPORT, json={"period": period})
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def sample_times(report: dict[str, Any]) -> list[int]:
    [west] = report["regions"]
    return [int(datetime.fromisoformat(sample["time"]).timestamp()) for sample in west["samples"]]


@pytest.mark.parametrize("period", list(PERIODS))
def test_two_reports_read_within_one_bucket_agree(api: tuple[TestClient, list[float]], period: str) -> None:
    client, clock = api
    length, width = PERIODS[period]
    bucket = HOUR + 1800 - (HOUR + 1800) % width  # the current bucket, whose start is not the hour's
    clock[0] = bucket + 0.5
    early = read_report(client, period)
    clock[0] = bucket + width - 0.5
    late = read_report(client, period)

    assert early == late
    times = sample_times(early)
    assert times and all(t % width == 0 for t in times), f"bucket starts off the clock: {times[:3]}"
    assert times[0] <= bucket - length < times[0] + width, "the first bucket holds the start of the period"
    assert times[-1] == bucket

    clock[0] = bucket + width + 0.5
    [west], [west_later] = early["regions"], read_report(client, period)["regions"]
    closed = west["samples"][:-1]  # the last one was the current bucket, still filling
    assert west_later["samples"][: len(closed) - 1] == closed[1:], "closed buckets keep their values"
