"""A command the control plane runs dies with it: kill -9 of the control plane leaves no orphan that could
go on writing a repository another control plane has taken over."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.plugin_process import REPO


def children_running(parent: int, program: bytes) -> list[int]:
    """Children of `parent` that run `program` (one forked but not yet exec-ed still runs Python)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent
                and (entry / "cmdline").read_bytes().split(b"\0")[0] == program
            ):
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue  # it ended while we looked
    return found


def test_a_command_dies_with_its_control_plane_killed_with_sigkill() -> None:
    # As a job worker does: a long-lived thread runs a command as the database account and waits for it.
    code = textwrap.dedent(
        """
        import threading
        from controlplane.engine.os_user import resolve_account
        account = resolve_account("postgres")
        worker = threading.Thread(target=account.run, args=(["sleep", "600"],), kwargs={"timeout": 600})
        worker.start()
        print("started", flush=True)
        worker.join()
        """
    )
    plane = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE
    )
    assert plane.stdout is not None and plane.stdout.readline() == b"started\n"
    deadline = time.monotonic() + 30
    while not (children := children_running(plane.pid, b"sleep")):
        assert time.monotonic() < deadline, "the command did not start"
        time.sleep(0.02)
    (command,) = children
    plane.kill()
    plane.wait(timeout=30)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{command}").exists():
        assert time.monotonic() < deadline, "the command outlived the control plane killed with -9"
        time.sleep(0.02)
