"""What an operator runs by hand, as the database user: the anchors the benchmarks set the control plane beside."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from controlplane.engine.ports import free_loopback_port
from tests.controlplane.cp_process import remove_tree

BIN = Path("/usr/lib/postgresql/15/bin")
DB_USER = "postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root


def as_db_user(*argv: str | Path) -> str:
    """Run a command as the database user; its output, or exit with it when the command fails."""
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, user=DB_USER, cwd="/")
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def db_user_dir(path: Path) -> Path:
    """A new private directory of the database user."""
    path.mkdir(mode=0o700)
    if DB_USER:
        shutil.chown(path, DB_USER)
    return path


def restore_to_first_query(
    config_path: Path, stanza: str, repository: Path, target: Path, username: str, *options: str
) -> float:
    """`pgbackrest restore` of `repository` into the new directory `target` with `options`, then
    `pg_ctl start`: the seconds until the server answers a query as a promoted primary.

    The server is stopped and `target` removed afterwards. Like a careful operator beside a live source,
    the restore gets a spool of its own (restore empties its spool's archive queues, which would break the
    source's asynchronous archiving) and a synchronous restore_command that reads `repository` only.
    """
    spool = target.with_name(f"{target.name}-spool")
    restore_command = (
        f"pgbackrest --no-config --stanza={stanza} --pg1-path={target} --repo=1 --repo1-path={repository}"
        ' --no-archive-async --log-level-file=off --log-level-console=off archive-get %f "%p"'
    )
    port = free_loopback_port()
    try:
        db_user_dir(target)
        db_user_dir(spool)
        started = time.perf_counter()
        as_db_user(
            "pgbackrest",
            f"--config-path={config_path}",
            f"--stanza={stanza}",
            "--repo=1",
            f"--repo1-path={repository}",
            f"--pg1-path={target}",
            f"--spool-path={spool}",
            "--archive-mode=off",
            f"--recovery-option=restore_command={restore_command}",
            *options,
            "restore",
        )
        as_db_user(
            BIN / "pg_ctl",
            "-D",
            target,
            "-w",
            "-l",
            target / "by-hand.log",
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={target}",
            "start",
        )
        deadline = time.monotonic() + 600
        while True:
            result = subprocess.run(
                [
                    BIN / "psql",
                    "-h",
                    str(target),
                    "-p",
                    str(port),
                    "-U",
                    username,
                    "-d",
                    "postgres",
                    "-Atc",
                    "SELECT pg_is_in_recovery()",
                ],
                capture_output=True,
                text=True,
                user=DB_USER,
                cwd="/",
            )
            if result.stdout.strip() == "f":
                return time.perf_counter() - started
            if time.monotonic() > deadline:
                raise SystemExit(f"the server restored by hand in {target} did not promote: {result.stderr}")
            time.sleep(0.05)
    finally:
        if (target / "postmaster.pid").exists():
            as_db_user(BIN / "pg_ctl", "-D", target, "-m", "immediate", "stop")
        remove_tree(target)
        remove_tree(spool)
