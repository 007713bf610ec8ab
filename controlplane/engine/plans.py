"""Service plans: the PostgreSQL settings behind `plan = "hobbyist" | "startup-4" | "business-8"`.

Plans follow the usual sizing rules for their machine class (shared_buffers about a quarter of RAM,
effective_cache_size about three quarters, work_mem so that max_connections busy sessions fit). The
machine classes are simulated: every service runs on this one host, and PostgreSQL only touches the
shared_buffers pages it uses, so a 2 GB business-8 service costs little until it holds 2 GB of data.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Plan:
    """One plan: its name and the postgresql.conf values it sets (PostgreSQL units, e.g. ``"32MB"``)."""

    name: str
    shared_buffers: str
    max_connections: int
    work_mem: str
    maintenance_work_mem: str
    effective_cache_size: str
    max_wal_size: str
    min_wal_size: str


PLANS: dict[str, Plan] = {
    plan.name: plan
    for plan in (
        # ~0.5 GB class: a small sandbox.
        Plan(
            name="hobbyist",
            shared_buffers="32MB",
            max_connections=25,
            work_mem="2MB",
            maintenance_work_mem="32MB",
            effective_cache_size="256MB",
            max_wal_size="256MB",
            min_wal_size="64MB",
        ),
        # ~4 GB class.
        Plan(
            name="startup-4",
            shared_buffers="1GB",
            max_connections=100,
            work_mem="4MB",
            maintenance_work_mem="256MB",
            effective_cache_size="3GB",
            max_wal_size="1GB",
            min_wal_size="128MB",
        ),
        # ~8 GB class.
        Plan(
            name="business-8",
            shared_buffers="2GB",
            max_connections=200,
            work_mem="8MB",
            maintenance_work_mem="512MB",
            effective_cache_size="6GB",
            max_wal_size="2GB",
            min_wal_size="256MB",
        ),
    )
}


def plan_settings(plan: Plan) -> dict[str, str]:
    """Return the postgresql.conf settings of `plan` (every field but the name), values as strings."""
    return {field.name: str(getattr(plan, field.name)) for field in fields(plan) if field.name != "name"}
