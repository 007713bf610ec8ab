"""`-parallelism=10` honoured end to end: ten slow creates overlap in Terraform, in the provider and in the
control plane's job workers (real Terraform, the real control plane, real PostgreSQL servers).

The control plane's log says when each job began and ended; every create must have begun before the first
one ended, so none waited for a worker.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from tests.controlplane.cp_process import ControlPlane
from tests.e2e.test_dbaas_service import write
from tests.terraform_workspace import Workspace, cli_config, terraform_env

PROJECT = "parallel"
SERVICES = 10
_STARTED = re.compile(rf"^(\S+ \S+) INFO \S+: running create_service job (\d+) of project {PROJECT} ")
_FINISHED = re.compile(r"^(\S+ \S+) INFO \S+: create_service job (\d+) finished in ")


def services(count: int) -> str:
    return "".join(
        f'resource "dbaas_service" "s{i}" {{\n  name = "par-{i}"\n  service_type = "pg"\n  cloud = "local-east"\n'
        '  plan = "hobbyist"\n}\n'
        for i in range(count)
    )


def create_job_spans(log: Path) -> dict[int, tuple[datetime, datetime]]:
    """(began, ended) of each finished create_service job of PROJECT, by job id, from the control plane's log."""
    began: dict[int, datetime] = {}
    ended: dict[int, datetime] = {}
    for line in log.read_text().splitlines():
        for pattern, times in ((_STARTED, began), (_FINISHED, ended)):
            matched = pattern.match(line)
            if matched:
                times[int(matched[2])] = datetime.strptime(matched[1], "%Y-%m-%d %H:%M:%S,%f")
    return {job: (began[job], ended[job]) for job in began if job in ended}


def test_ten_service_creates_overlap_in_the_control_plane(
    tmp_path: Path, plugin_dir: Path, control_plane: ControlPlane
) -> None:
    workspace = Workspace(
        tmp_path, tmp_path, terraform_env(cli_config(tmp_path / "terraformrc", {"dbaas/dbaas": plugin_dir}))
    )
    token = control_plane.create_token(PROJECT)
    workspace.env.update(DBAAS_ENDPOINT=control_plane.url, DBAAS_TOKEN=token, DBAAS_PROJECT=PROJECT)
    write(workspace, services(SERVICES))
    try:
        workspace.apply("-parallelism=10")
        spans = create_job_spans(control_plane.log)
        assert len(spans) == SERVICES
        first_end = min(end for _, end in spans.values())
        assert all(begin < first_end for begin, _ in spans.values()), spans
    finally:
        workspace.run("destroy", "-auto-approve", check=False)
    assert workspace.resources() == {}
