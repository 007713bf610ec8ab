"""200 `dbaas_backup` beside 200 `null_resource` of the Go null provider, each pair in one run: `terraform plan`
(refresh on) of the unchanged resources (docs/design.md, Targets: ≤ 1.5x; ≤ 1.25x beside null_resources with a
25-entry `triggers` map, the same state size), creating them, and an apply that changes them all (the labels of
200 backups in place; the null provider's triggers, which replace 200 resources).

Taking 200 real backups would cost ~2.3 s each, so one service gets one real full backup through the API and
Terraform imports that backup's handle under 200 names (`import_source`; the control plane checks the handle
on each import and lets several names share it). The real control plane, PostgreSQL and pgBackRest answer
every refresh and every change. Plans and changes run interleaved, and every ratio is taken within one pair.
The null provider comes from PyPI as in bench/plan_unchanged.py. Where Go and Debian's Go packages are installed
(bench/same_schema_provider.py), the plan also runs beside a Go provider with dbaas_backup's own schema and a copy
of the state: the comparison with "a Go provider with the same state" that the null provider only approximates.
Usage: python bench/backup_plan.py [--resources N] [--runs N]
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import same_schema_provider
from bench.harness import PROJECT, SERVICES, create_service, full_backup, running_control_plane
from bench.pairs import describe, describe_ratio, interleaved, pair_ratios
from bench.plan_unchanged import null_provider, run_from_byte_code, timed_plan
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


def null_resources(count: int, round_label: str, triggers: int = 1) -> str:
    """`count` null_resources with `triggers` triggers, the first `round_label`: a new label replaces them all."""
    entries = "".join(f', k{j} = "v{j}"' for j in range(1, triggers))
    return 'terraform {\n  required_providers {\n    null = { source = "hashicorp/null" }\n  }\n}\n' + "".join(
        f'resource "null_resource" "r{i}" {{\n  triggers = {{ round = "{round_label}"{entries} }}\n}}\n'
        for i in range(count)
    )


def same_schema_workspace(scratch: Path, ours: Workspace) -> Workspace:
    """A copy of `ours` (configuration and state) that Terraform plans with the Go provider of
    bench/same_schema_provider.py, which has the dbaas provider's schema."""
    plugin_dir, variables = same_schema_provider.build(scratch / "same-schema-build")
    env = terraform_env(cli_config(scratch / "same-terraformrc", {"dbaas/dbaas": plugin_dir}))
    same = Workspace(scratch / "same", scratch / "unused", {**env, **variables})
    same.path.mkdir()
    for file in ours.path.iterdir():
        if file.is_file():
            shutil.copyfile(file, same.path / file.name)
    return same


def timed_apply(workspace: Workspace, expected: str) -> float:
    """Seconds of one `terraform apply -parallelism=10`, which must report `expected` ("N added, …")."""
    started = time.perf_counter()
    result = workspace.run("apply", "-auto-approve", "-input=false", "-parallelism=10")
    seconds = time.perf_counter() - started
    if expected not in result.stdout:
        raise SystemExit(f"apply did not report {expected!r}:\n{result.stdout[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if TERRAFORM is None:
        sys.exit("terraform is not on PATH")
    run_from_byte_code()
    count = args.resources
    same_schema = same_schema_provider.missing()  # None: the Go provider with our schema can be built
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
            theirs = Workspace(scratch / "theirs", scratch / "unused", env)
            wide = Workspace(scratch / "wide", scratch / "unused", env)  # 25 triggers each
            for workspace in (ours, theirs, wide):
                workspace.path.mkdir()
            write(ours, imported_backups(count, handle, "0"))
            (theirs.path / "main.tf").write_text(null_resources(count, "0"))
            (wide.path / "main.tf").write_text(null_resources(count, "0", triggers=25))
            added = f"{count} added, 0 changed, 0 destroyed"
            creates = interleaved(
                {
                    "ours": functools.partial(timed_apply, ours, added),
                    "null": functools.partial(timed_apply, theirs, added),
                },
                1,
            )
            timed_apply(wide, f"{count} added")
            plan_sides = {
                "ours": functools.partial(timed_plan, ours),
                "null": functools.partial(timed_plan, theirs),
                "wide": functools.partial(timed_plan, wide),
            }
            if same_schema is None:
                same = same_schema_workspace(scratch, ours)
                plan_sides["same"] = functools.partial(timed_plan, same)
            plans = interleaved(plan_sides, args.runs)

            rounds = iter(range(1, 2 * args.runs + 1))

            def change_ours() -> float:
                write(ours, imported_backups(count, handle, str(next(rounds))))
                return timed_apply(ours, f"0 added, {count} changed, 0 destroyed")

            def replace_theirs() -> float:
                (theirs.path / "main.tf").write_text(null_resources(count, str(next(rounds))))
                return timed_apply(theirs, f"{count} added, 0 changed, {count} destroyed")

            changes = interleaved({"ours": change_ours, "null": replace_theirs}, args.runs)
            after = ours.plan_exit_code()
            if after.returncode != 0:
                raise SystemExit(f"plan after the label changes is not empty:\n{after.stdout[-2000:]}")
            listed = client.get(f"{SERVICES}/{SERVICE}/backups", params={"page_size": 1000}).json()["backups"]
            labelled = {backup["labels"].get("round") for backup in listed if backup["name"] != "base"}
            if len(listed) != count + 1 or len(labelled) != 1:
                raise SystemExit(
                    f"the control plane holds {len(listed)} backups labelled {labelled}, not {count} alike"
                )
        finally:
            if ours is not None and (ours.path / "terraform.tfstate").exists():
                ours.run("destroy", "-auto-approve", "-input=false", check=False)
    print(f"{count} resources, the dbaas provider against the real control plane beside the Go null provider:")
    report("apply creating them (imports of one backup)", creates)
    report(f"plan -refresh=true, unchanged, {args.runs} interleaved runs", plans, 1.5)
    print(f"    null_resource with 25 triggers (the same state size): {describe(plans['wide'], 's')}")
    print(f"    ratio to it: {describe_ratio(pair_ratios(plans['ours'], plans['wide']), 1.25)}")
    if same_schema is None:
        print(f"    a Go provider with dbaas_backup's schema and state: {describe(plans['same'], 's')}")
        print(f"    ratio to it: {describe_ratio(pair_ratios(plans['ours'], plans['same']), 1.25)}")
    else:
        print(f"    (no Go provider with dbaas_backup's schema: {same_schema})")
    report(f"apply changing them all, {args.runs} interleaved runs (ours: labels in place; null: replaced)", changes)


def report(title: str, seconds: dict[str, list[float]], target: float | None = None) -> None:
    print(f"  {title}: ours {describe(seconds['ours'], 's')}, null {describe(seconds['null'], 's')}")
    print(f"    ratio: {describe_ratio(pair_ratios(seconds['ours'], seconds['null']), target)}")


if __name__ == "__main__":
    main()
