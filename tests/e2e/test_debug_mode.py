"""`--debug`: the provider serves on its own and Terraform attaches through TF_REATTACH_PROVIDERS."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from tests.plugin_process import REPO
from tests.terraform_workspace import Workspace


def test_terraform_attaches_to_a_provider_started_with_debug(workspace: Workspace) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.testing_plugin", "--debug"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        assert lines[0].startswith("Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS")
        exported = lines[2].strip()
        assert exported.startswith("TF_REATTACH_PROVIDERS='") and exported.endswith("'")
        reattach = json.loads(exported[len("TF_REATTACH_PROVIDERS='") : -1])
        attached = reattach["registry.terraform.io/example/testing"]
        assert attached["Protocol"] == "grpc" and attached["ProtocolVersion"] == 6
        assert attached["Pid"] == process.pid and attached["Addr"]["Network"] == "unix"

        workspace.env["TF_REATTACH_PROVIDERS"] = json.dumps(reattach)
        workspace.write('resource "testing_item" "d" {\n  name = "debugged"\n}\n')
        workspace.apply()
        assert workspace.resources()["testing_item.d"]["name"] == "debugged"
        workspace.run("destroy", "-auto-approve")
        assert process.poll() is None, "Terraform must leave a debug provider running"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
