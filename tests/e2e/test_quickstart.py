"""examples/quickstart with real Terraform against the real control plane: a service copying its backups to
a second region, rows, a full and an incremental backup, a fork restored from the copy in that region, and
the dbaas_backup_region_report data source, then a plain `terraform destroy` as `make quickstart-destroy` runs it.
(.ci/run also runs it through `make quickstart`.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg

from tests.controlplane.cp_process import ControlPlane
from tests.e2e.test_dbaas_service import dbaas
from tests.plugin_process import REPO
from tests.terraform_workspace import Workspace

__all__ = ["dbaas"]  # the fixture, imported to be used here


def test_quickstart_restores_in_the_backup_region_and_destroys(dbaas: Workspace, control_plane: ControlPlane) -> None:
    shutil.copy(Path(REPO) / "examples" / "quickstart" / "main.tf", dbaas.path / "main.tf")
    dbaas.apply()
    outputs = {name: value["value"] for name, value in json.loads(dbaas.run("output", "-json").stdout).items()}
    assert outputs["restored_rows"] == "espresso, flat white, cortado"
    assert outputs["restored_from"] == {
        "backup": "quickstart-incremental",
        "region": "local-west",
        "recovery_time": outputs["restored_from"]["recovery_time"],
    }
    for name, backup in outputs["backups"].items():
        assert backup["region"] == "local-east", name
        assert [(r["region"], r["state"]) for r in backup["replicas"]] == [("local-west", "Succeeded")], name
    assert outputs["replication_status"] == {"local-west": "ok"}
    with psycopg.connect(outputs["fork_uri"]) as connection:
        assert connection.execute("SELECT count(*) FROM orders").fetchone() == (3,)

    report = dbaas.resources()["data.dbaas_backup_region_report.orders"]
    [west] = report["regions"]
    assert (report["period"], report["bucket_seconds"], west["region"]) == ("hour", 60, "local-west")
    assert west["lag_seconds"] >= 0 and west["samples"], "the first sample is taken as soon as copying starts"
    assert dbaas.plan_exit_code().returncode == 0, "plan after apply must be empty"

    # `make quickstart-destroy`: a plain destroy, no state surgery, and nothing is left in the API.
    assert "state rm" not in (Path(REPO) / "examples" / "quickstart" / "quickstart.sh").read_text()
    destroyed = dbaas.run("destroy", "-auto-approve", "-input=false", check=False)
    assert destroyed.returncode == 0, destroyed.stderr
    assert dbaas.resources() == {}
    with control_plane.client(control_plane.create_token("acme")) as api:
        assert api.get("/v1/projects/acme/services").json()["services"] == []
        for name in outputs["backups"]:
            assert api.get(f"/v1/projects/acme/services/orders/backups/{name}").status_code == 404, name
