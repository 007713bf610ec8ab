"""Waits under real Terraform: parallelism, timeouts and Ctrl-C never lose a created object."""

from __future__ import annotations

from tests.terraform_workspace import Workspace, interrupt, wait_for


def slow_items(count: int, delay: float, timeouts: str = "") -> str:
    return "".join(
        f"""
resource "testing_item" "slow{index}" {{
  name         = "slow{index}"
  create_delay = {delay}
  {timeouts}
}}
"""
        for index in range(count)
    )


def test_ten_slow_creates_overlap(workspace: Workspace) -> None:
    workspace.write(slow_items(10, 2))
    workspace.apply("-parallelism=10")
    spans = sorted((float(i["created_at"]), float(i["finished_at"])) for i in workspace.stored_items().values())
    assert len(spans) == 10
    # Every create started before the first one finished: they really ran at the same time.
    first_finish = min(end for _, end in spans)
    assert all(start < first_finish for start, _ in spans)


def test_timeout_keeps_the_created_object_in_state(workspace: Workspace) -> None:
    workspace.write(slow_items(1, 30, 'timeouts {\n    create = "1s"\n  }'))
    result = workspace.run("apply", "-auto-approve", check=False)
    assert result.returncode == 1
    assert "was not ready within 1s" in result.stderr
    state = workspace.resources()
    stored = workspace.stored_items()
    assert [values["id"] for values in state.values()] == list(stored)
    assert "tainted" in workspace.run("state", "show", "testing_item.slow0").stdout


def test_ctrl_c_during_apply_leaves_nothing_outside_state(workspace: Workspace) -> None:
    workspace.write(slow_items(3, 60))
    process = workspace.start("apply", "-auto-approve", "-parallelism=3")
    wait_for(lambda: len(workspace.stored_items()) == 3)
    stdout, stderr = interrupt(process)
    assert process.returncode != 0
    assert "Interrupt received" in stdout + stderr
    stored = set(workspace.stored_items())
    in_state = {values["id"] for values in workspace.resources().values()}
    assert stored and stored <= in_state, f"created but not in state: {stored - in_state}"
