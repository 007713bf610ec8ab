"""`terraform plan` (refresh on) of 200 unchanged `dbaas_backup` resources beside the Go null provider's plan of
200 `null_resource` in the same run (docs/design.md, Targets: ≤ 1.5x), then an apply that changes the labels of all 200.

Taking 200 real backups would cost ~2.3 s each, so one service gets one real full backup through the API and
Terraform imports that backup's handle under 200 names (`import_source`; the control plane checks the handle
on each import and lets several names share it). The real control plane, PostgreSQL and pgBackRest answer
every refresh. The null provider comes from PyPI as in bench/plan_unchanged.py.
Usage: python bench/backup_plan.py [--resources N] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PROJECT, SERVICES, create_service, full_backup, running_control_plane
from bench.plan_unchanged import null_provider, null_workspace, timed_plans
from tests.e2e.test_dbaas_service import write
from tests.terraform_workspace import TERRAFORM, Workspace, cli_config, make_plugin_dir, terraform_env

SERVICE = "source"


def imported_backups(count: int, handle: str, round_label: str) -> str:
    """`count` dbaas_backup resources, each importing `handle` under a name of its own."""
    return "".join(
        f'''
resource "dbaas_backup" "b{i}" {{
  service       = "{SERVICE}"
  name          = "imported-{i:03d}"
  labels        = {{ round = "{round_label}" }}
  import_source = {{ backup_handle = "{handle}", backup_plugin = "pgbackrest" }}
}}
'''
        for i in range(count)
    )


def timed(workspace: Workspace, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = workspace.run(*args)
    return time.perf_counter() - started, result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if TERRAFORM is None:
        sys.exit("terraform is not on PATH")
    count = args.resources
    with running_control_plane("dbaas-bench-backup-plan-") as bench:
        scratch, client = bench.scratch, bench.client
        create_service(client, SERVICE, plan="hobbyist")
        handle = str(full_backup(client, SERVICE, "base")["backup_handle"])
        print(f"one real full backup: {handle}")
        ours: Workspace | None = None
        try:
            plugins = make_plugin_dir(scratch / "plugins")
            nulls = null_provider(scratch / "null")
            env = terraform_env(cli_config(scratch / "terraformrc", {"dbaas/dbaas": plugins, "hashicorp/null": nulls}))
            env.update(DBAAS_ENDPOINT=bench.plane.url, DBAAS_TOKEN=bench.token, DBAAS_PROJECT=PROJECT)
            ours = Workspace(scratch / "ours", scratch / "unused", env)
            ours.path.mkdir()
            write(ours, imported_backups(count, handle, "1"))
            create_seconds, _ = timed(ours, "apply", "-auto-approve", "-input=false", "-parallelism=10")
            theirs = null_workspace(scratch / "theirs", env, count)
            theirs.apply("-parallelism=10")
            print(f"terraform apply creating {count} dbaas_backup (imports of that backup): {create_seconds:.2f} s")

            ours_seconds = timed_plans(ours, args.runs)
            theirs_seconds = timed_plans(theirs, args.runs)
            ours_median, theirs_median = statistics.median(ours_seconds), statistics.median(theirs_seconds)
            print(f"terraform plan -refresh=true, {count} unchanged resources, median of {args.runs}:")
            print(
                f"  Go null provider (null_resource): {theirs_median:.2f} s  runs: "
                + " ".join(f"{s:.2f}" for s in theirs_seconds)
            )
            print(
                f"  dbaas provider (dbaas_backup):    {ours_median:.2f} s  runs: "
                + " ".join(f"{s:.2f}" for s in ours_seconds)
            )
            print(f"  ratio: {ours_median / theirs_median:.2f}x (target <= 1.5x)")

            write(ours, imported_backups(count, handle, "2"))
            apply_seconds, applied = timed(ours, "apply", "-auto-approve", "-input=false", "-parallelism=10")
            if f"0 added, {count} changed, 0 destroyed" not in applied:
                raise SystemExit(f"the label change did not update {count} backups in place:\n{applied[-2000:]}")
            after = ours.plan_exit_code()
            if after.returncode != 0:
                raise SystemExit(f"plan after the label change is not empty:\n{after.stdout[-2000:]}")
            listed = client.get(f"{SERVICES}/{SERVICE}/backups", params={"label": "round=2", "page_size": 1000})
            relabelled = listed.json()["backups"]  # lists are paginated: the largest page holds them all
            if len(relabelled) != count:
                raise SystemExit(f"the control plane has {len(relabelled)} backups labelled round=2, not {count}")
            print(
                f"terraform apply changing the labels of {count} dbaas_backup: {apply_seconds:.2f} s "
                "(plan afterwards: no changes)"
            )
        finally:
            if ours is not None and (ours.path / "terraform.tfstate").exists():
                ours.run("destroy", "-auto-approve", "-input=false", check=False)


if __name__ == "__main__":
    main()
