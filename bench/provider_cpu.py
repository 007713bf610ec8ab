"""Provider CPU per resource in the launch that plans: ours beside the Go null provider (target ≤ 1 ms per resource).

`terraform plan -refresh=true` of N unchanged resources starts a provider several times; the launch that plans
(UpgradeResourceState, ReadResource, PlanResourceChange per resource) is the one that uses the most CPU. Each
provider runs under a launcher (this file with --record) that adds its CPU time (user + system, its children
included) to a file once it exits. Per resource is the difference between the planning launches with N and with 1
resource, over N - 1, taken within each run; the sides (testing_items with 25 labels, or with --backups the
dbaas_backups of a real control plane as bench/backup_plan.py makes them, and null_resources with 25 triggers) run
interleaved. The total of the planning launch with N resources is printed too, and so is Terraform's own CPU in
the same plans (the whole plan's, children included, less every launch's and its launcher's): what Terraform itself
does per resource depends on the resource's schema, which the provider's CPU does not show.
Usage: python bench/provider_cpu.py [--resources N] [--runs N] [--backups]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.backup_plan import SERVICE, imported_backups
from bench.harness import PROJECT, Bench, create_service, full_backup, running_control_plane
from bench.pairs import describe, describe_ratio, interleaved, pair_ratios
from bench.plan_unchanged import null_provider, null_workspace, run_from_byte_code, testing_workspace, timed_plan
from tests.e2e.test_dbaas_service import write
from tests.plugin_process import REPO
from tests.terraform_workspace import TERRAFORM, Workspace, cli_config, terraform_env

RECORD_VARIABLE = "BENCH_PROVIDER_CPU_RECORD"


def record(command: list[str]) -> int:
    """Run a provider as Terraform started us, then append the CPU seconds it used to $BENCH_PROVIDER_CPU_RECORD."""
    path = os.environ.get(RECORD_VARIABLE)
    if not path:
        os.execv(command[0], command)
    returncode = subprocess.run(command, check=False).returncode
    provider, launcher = (resource.getrusage(who) for who in (resource.RUSAGE_CHILDREN, resource.RUSAGE_SELF))
    with open(path, "a") as out:
        out.write(f"{provider.ru_utime + provider.ru_stime} {launcher.ru_utime + launcher.ru_stime}\n")
    return returncode


def recording_plugin_dir(directory: Path, name: str, command: list[str]) -> Path:
    """A directory holding terraform-provider-`name`, which runs `command` under the recording launcher."""
    directory.mkdir(parents=True)
    launcher = directory / f"terraform-provider-{name}"
    quoted = " ".join(f"'{part}'" for part in command)
    launcher.write_text(
        f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} {Path(__file__).resolve()} --record {quoted} "$@"\n'
    )
    launcher.chmod(0o755)
    return directory


def children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def planning_launch_cpu(workspace: Workspace, record_file: Path, terraform_cpu: list[float]) -> float:
    """CPU seconds of the provider launch that planned, in one `terraform plan` of `workspace`; Terraform's own
    CPU seconds in that plan are appended to `terraform_cpu`."""
    record_file.unlink(missing_ok=True)
    workspace.env[RECORD_VARIABLE] = str(record_file)
    before = children_cpu()
    try:
        timed_plan(workspace)
    finally:
        del workspace.env[RECORD_VARIABLE]
    launches = [[float(value) for value in line.split()] for line in record_file.read_text().splitlines()]
    terraform_cpu.append(children_cpu() - before - sum(provider + launcher for provider, launcher in launches))
    return max(provider for provider, _ in launches)


def testing_sides(scratch: Path, count: int, null_dir: Path) -> dict[str, Workspace]:
    """testing_items with 25 labels (N and 1), applied."""
    ours_dir = recording_plugin_dir(
        scratch / "ours-plugin", "testing", [sys.executable, "-m", "tests.e2e.testing_plugin"]
    )
    env = terraform_env(cli_config(scratch / "terraformrc", {"example/testing": ours_dir, "hashicorp/null": null_dir}))
    sides = {
        "ours": testing_workspace(scratch / "ours", env, count),
        "ours-1": testing_workspace(scratch / "ours-1", env, 1),
    }
    for workspace in sides.values():
        workspace.apply("-parallelism=10")
    return sides


def backup_sides(bench: Bench, count: int, null_dir: Path) -> dict[str, Workspace]:
    """dbaas_backups (N and 1) of a real control plane, as bench/backup_plan.py makes them, applied."""
    create_service(bench.client, SERVICE, plan="hobbyist")
    handle = str(full_backup(bench.client, SERVICE, "base")["backup_handle"])
    ours_dir = recording_plugin_dir(bench.scratch / "ours-plugin", "dbaas", [sys.executable, "-m", "provider.main"])
    env = terraform_env(
        cli_config(bench.scratch / "terraformrc", {"dbaas/dbaas": ours_dir, "hashicorp/null": null_dir})
    )
    env.update(DBAAS_ENDPOINT=bench.plane.url, DBAAS_TOKEN=bench.token, DBAAS_PROJECT=PROJECT)
    sides = {}
    for name, configuration in (
        ("ours", imported_backups(count, handle, "1")),
        ("ours-1", imported_backups(1, handle, "1").replace("imported-000", "single-000")),
    ):
        workspace = sides[name] = Workspace(bench.scratch / name, bench.scratch / "unused", env)
        workspace.path.mkdir()
        write(workspace, configuration)
        workspace.apply("-parallelism=10")
    return sides


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--backups", action="store_true", help="dbaas_backups of a real control plane, not testing_items"
    )
    args = parser.parse_args()
    if TERRAFORM is None:
        sys.exit("terraform is not on PATH")
    run_from_byte_code()
    count = args.resources
    with contextlib.ExitStack() as stack:
        if args.backups:
            bench = stack.enter_context(running_control_plane("dbaas-bench-provider-cpu-"))
            scratch = bench.scratch
        else:
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        null_binary = null_provider(scratch / "null") / "terraform-provider-null"
        null_dir = recording_plugin_dir(scratch / "null-plugin", "null", [str(null_binary)])
        workspaces = backup_sides(bench, count, null_dir) if args.backups else testing_sides(scratch, count, null_dir)
        null_env = terraform_env(cli_config(scratch / "null-terraformrc", {"hashicorp/null": null_dir}))
        workspaces["null"] = null_workspace(scratch / "null-25", null_env, count, triggers=25)
        workspaces["null-1"] = null_workspace(scratch / "null-25-1", null_env, 1, triggers=25)
        for name in ("null", "null-1"):
            workspaces[name].apply("-parallelism=10")
        terraform_cpu: dict[str, list[float]] = {name: [] for name in workspaces}
        cpu = interleaved(
            {
                name: functools.partial(planning_launch_cpu, workspace, scratch / f"{name}.cpu", terraform_cpu[name])
                for name, workspace in workspaces.items()
            },
            args.runs,
        )
    per_resource = {
        side: [(n - one) / (count - 1) for n, one in zip(cpu[side], cpu[f"{side}-1"], strict=True)]
        for side in ("ours", "null")
    }
    ours = "dbaas_backup" if args.backups else "testing_item, 25 labels"
    print(
        f"provider CPU in the launch that plans {count} unchanged resources (refresh on), {args.runs} interleaved runs:"
    )
    print(f"  Go null provider, 25 triggers, whole launch:  {describe(cpu['null'], 'ms', 1000)}")
    print(f"  {ours}, whole launch: {describe(cpu['ours'], 'ms', 1000)}")
    print(f"  Go null provider, per resource:  {describe(per_resource['null'], 'ms', 1000)}")
    print(f"  {ours}, per resource: {describe(per_resource['ours'], 'ms', 1000)}; target <= 1 ms")
    print("  ratio of the whole launches, ours / null: " + describe_ratio(pair_ratios(cpu["ours"], cpu["null"])))
    print(f"Terraform's own CPU in the same plans of {count} resources:")
    print(f"  beside the Go null provider, 25 triggers: {describe(terraform_cpu['null'], 'ms', 1000)}")
    print(f"  beside {ours}: {describe(terraform_cpu['ours'], 'ms', 1000)}")
    terraform_ratios = pair_ratios(terraform_cpu["ours"], terraform_cpu["null"])
    print(f"  ratio, {ours} / null: {describe_ratio(terraform_ratios)}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"]:
        sys.exit(record(sys.argv[2:]))
    main()
