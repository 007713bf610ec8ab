"""Real Terraform in a throwaway working directory, with providers installed by dev_overrides.

Shared by the end-to-end tests and the benchmarks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.plugin_process import REPO

TERRAFORM = shutil.which("terraform")
PLUGINS = {"testing": "tests.e2e.testing_plugin", "dbaas": "provider.main"}


def make_plugin_dir(directory: Path) -> Path:
    """Executables named as Terraform expects, running the test provider and the dbaas provider."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, module in PLUGINS.items():
        launcher = directory / f"terraform-provider-{name}"
        launcher.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m {module} "$@"\n')
        launcher.chmod(0o755)
    return directory


def cli_config(path: Path, overrides: dict[str, Path]) -> Path:
    """A Terraform CLI configuration that takes the given providers from local directories."""
    lines = "".join(f'    "{source}" = "{directory}"\n' for source, directory in overrides.items())
    path.write_text(f"provider_installation {{\n  dev_overrides {{\n{lines}  }}\n  direct {{}}\n}}\n")
    return path


def terraform_env(config: Path) -> dict[str, str]:
    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    env.pop("TF_LOG", None)
    return env


@dataclass
class TerraformResult:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Workspace:
    """A Terraform working directory with its own store directory for the test provider."""

    path: Path
    store: Path
    env: dict[str, str]

    def write(self, hcl: str, name: str = "main.tf") -> None:
        provider_block = (
            'terraform {\n  required_providers {\n    testing = { source = "example/testing" }\n  }\n}\n'
            f'provider "testing" {{\n  directory = "{self.store}"\n}}\n'
        )
        (self.path / name).write_text(provider_block + hcl if name == "main.tf" else hcl)

    def run(self, *args: str, check: bool = True) -> TerraformResult:
        assert TERRAFORM is not None
        process = subprocess.run(
            [TERRAFORM, *args, "-no-color"], cwd=self.path, env=self.env, capture_output=True, text=True, timeout=300
        )
        result = TerraformResult(process.returncode, process.stdout, process.stderr)
        if check and process.returncode not in (0, 2):
            raise AssertionError(f"terraform {' '.join(args)} failed:\n{process.stdout}\n{process.stderr}")
        return result

    def start(self, *args: str) -> subprocess.Popen[str]:
        assert TERRAFORM is not None
        return subprocess.Popen(
            [TERRAFORM, *args, "-no-color"],
            cwd=self.path,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def apply(self, *extra: str) -> TerraformResult:
        return self.run("apply", "-auto-approve", "-input=false", *extra)

    def plan_exit_code(self) -> TerraformResult:
        """`plan -detailed-exitcode`: 0 means no changes, 2 means changes."""
        return self.run("plan", "-detailed-exitcode", "-input=false")

    def state(self) -> dict[str, object]:
        shown = self.run("show", "-json")
        return json.loads(shown.stdout) if shown.stdout.strip() else {}

    def resources(self) -> dict[str, dict[str, object]]:
        values = self.state().get("values") or {}
        module = values.get("root_module", {}) if isinstance(values, dict) else {}
        return {r["address"]: r["values"] for r in module.get("resources", [])}

    def stored_items(self) -> dict[str, dict[str, object]]:
        return {p.stem: json.loads(p.read_text()) for p in self.store.glob("*.json")}


def interrupt(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C as a terminal delivers it: SIGINT to Terraform and its plugins (the process group), once."""
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    return stdout, stderr


def wait_for(condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)
