"""data "dbaas_backup_region_report": how far each additional backup region's copy is behind (Aiven's
backup to another region report)."""

from __future__ import annotations

from typing import Any

from provider.cty import types as cty
from provider.framework.diagnostics import Diagnostics
from provider.framework.resource import DataSource
from provider.framework.schema import Attribute, Block, NestedAttributes, Schema
from provider.framework.validators import OneOf
from provider.resources.common import api_errors, client_of, project_of

PERIODS = ("hour", "day", "week", "month", "year")


def _computed(type_: cty.Type, description: str) -> Attribute:
    return Attribute(type=type_, computed=True, description=description)


_SAMPLE = {
    "time": _computed(cty.STRING, "Start of the bucket (RFC 3339)."),
    "lag_seconds": _computed(cty.NUMBER, "The largest lag sampled in the bucket, in seconds."),
}
_REGION = {
    "region": _computed(cty.STRING, "The additional backup region."),
    "status": _computed(cty.STRING, "`ok`, `failing` (see `message`) or `pending` before the first sample."),
    "lag_seconds": _computed(
        cty.NUMBER,
        "Now: how long the oldest object the copy lacks has been in the "
        "primary store, in seconds (0: the copy has everything).",
    ),
    "message": _computed(cty.STRING, "Why copying fails, while it does."),
    "samples": Attribute(
        computed=True,
        description="The lag over the period, one entry per bucket with samples.",
        nested=NestedAttributes(_SAMPLE, "list"),
    ),
}


class BackupRegionReportData(DataSource):
    type_name = "dbaas_backup_region_report"
    schema = Schema(
        Block(
            description="The replication lag of a service's backups to each of its "
            "`user_config.additional_backup_regions`.",
            attributes={
                "id": _computed(cty.STRING, "`project/service/period`."),
                "project": Attribute(
                    type=cty.STRING, optional=True, computed=True, description="Defaults to the provider's `project`."
                ),
                "service": Attribute(
                    type=cty.STRING, required=True, description="The service whose backups are copied."
                ),
                "period": Attribute(
                    type=cty.STRING,
                    required=True,
                    validators=(OneOf(PERIODS),),
                    description="The report's span: `hour`, `day`, `week`, `month` or `year`.",
                ),
                "bucket_seconds": _computed(cty.NUMBER, "The width of each sample bucket."),
                "regions": Attribute(
                    computed=True,
                    description="One entry per additional backup region.",
                    nested=NestedAttributes(_REGION, "list"),
                ),
            },
        )
    )

    def read(self, config: dict[str, Any], diagnostics: Diagnostics) -> dict[str, Any]:
        project, service, period = project_of(self.provider_data, config), str(config["service"]), config["period"]
        with api_errors(f"read the backup region report of service {service!r}"):
            found = client_of(self.provider_data).replication_report(project, service, str(period))
        regions = [
            {
                "region": r.get("region"),
                "status": r.get("status"),
                "lag_seconds": r.get("lag_seconds"),
                "message": r.get("message"),
                "samples": [
                    {"time": s.get("time"), "lag_seconds": s.get("lag_seconds")} for s in r.get("samples") or []
                ],
            }
            for r in found.get("regions") or []
        ]
        return {
            "id": f"{project}/{service}/{period}",
            "project": project,
            "service": service,
            "period": period,
            "bucket_seconds": found.get("bucket_seconds"),
            "regions": regions,
        }
