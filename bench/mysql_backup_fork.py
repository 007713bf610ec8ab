"""MySQL services (MariaDB 10.11): a full backup through the API beside `mariabackup --backup --stream=mbstream | zstd`
by hand (target >= 0.9x the throughput), and a fork of that backup to its first query beside `zstd -d | mbstream -x`,
`mariabackup --prepare`, `--move-back` and a server start by hand (target <= 1.2x the time).

The sides run interleaved, run by run (bench/pairs.py), each from a written-back page cache and after the same
pause, and each ratio is taken within its run. The pause is there because this machine is a VM that hands memory
left free for 2 s back to its host (free page reporting): a program writing a few hundred MB into memory freed
less than 2 s before is fast, into memory handed back it pays seconds of system time getting it back
(mbstream -x of this benchmark's backup: 0.3 s right after the previous run's files were removed, 3.5 s three
seconds later). Without the pause, whichever side began sooner after the other's removal won (a fork through
the API after a fork by hand ran up to 3.5x slower than after another fork through the API); with it, both
sides start as a fork on an idle host does. The control plane is `dbaas-cp serve` in a scratch directory
(bench/harness.py), waited for as the provider waits; the by-hand commands run as the `mysql` account on the same
server and write to the same disk.
Usage: python bench/mysql_backup_fork.py [--mb 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import SERVICES, create_service, full_backup, running_control_plane
from bench.pairs import describe, describe_ratio, interleaved, pair_ratios
from controlplane.domain.handles import parse_handle
from controlplane.engine.mariabackup import DATA_NAME
from controlplane.engine.mariadb import CONF_NAME, SERVER_PROGRAM
from controlplane.engine.ports import free_loopback_port
from provider.client.waiting import wait_for
from tests.controlplane.cp_process import remove_tree, wait_for_gone
from tests.mysql_client import rows

ACCOUNT = "mysql"
ROW_BYTES = 1000
FIRST_QUERY = "SELECT pad FROM filler WHERE id = 1"  # the same on both sides: a row read through the index


def as_mysql(script: str, *args: str) -> None:
    """A shell script run by the `mysql` account (its arguments as $1…); exit with its output when it fails."""
    done = subprocess.run(
        ["runuser", "-u", ACCOUNT, "--", "/bin/bash", "-c", f"set -euo pipefail; {script}", "bench", *args],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if done.returncode != 0:
        raise SystemExit(f"{script} failed:\n{done.stdout}{done.stderr}")


# Longer than the 2 s after which this VM hands free memory back to its host (see the docstring).
PAUSE_SECONDS = 5.0


def settle() -> None:
    """Write back what earlier runs left dirty (their datadirs, removed or not), so that no side pays for the
    writeback of the run before it, and let the memory they freed go back to the host, as on an idle host."""
    os.sync()
    time.sleep(PAUSE_SECONDS)


def mysql_dir(path: Path) -> Path:
    """A new private directory of the `mysql` account."""
    path.mkdir(mode=0o700)
    shutil.chown(path, ACCOUNT, ACCOUNT)
    return path


def load(uri: str, megabytes: int) -> None:
    """About `megabytes` of InnoDB rows of random hex (zstd halves it, as it does much real data): a table
    doubled until it is big enough."""
    pad = f"CHAR({ROW_BYTES // 4}) CHARACTER SET utf8mb4"  # up to 4 bytes a character
    rows(uri, f"CREATE TABLE filler (id INT AUTO_INCREMENT PRIMARY KEY, pad {pad})")
    rows(uri, f"INSERT INTO filler (pad) VALUES (HEX(RANDOM_BYTES({ROW_BYTES // 8})))")
    while int(rows(uri, "SELECT COUNT(*) FROM filler")[0]) * ROW_BYTES < megabytes * 1_000_000:
        rows(uri, f"INSERT INTO filler (pad) SELECT HEX(RANDOM_BYTES({ROW_BYTES // 8})) FROM filler")


def backup_by_hand(home: Path, out: Path) -> float:
    """mariabackup streamed through zstd into a file, as the server's account, and the file written to disk (the
    API's backup is durable when it answers, its object and the object's directory synced): the seconds it took."""
    script = (
        'mkdir "$2/target" && mariabackup --defaults-file="$1/dbaas.cnf" --backup --stream=mbstream '
        '--target-dir="$2/target" --socket="$3" --user=mysql 2>"$2/log" | zstd -3 -q -o "$2/data.mbstream.zst" '
        '&& sync "$2/data.mbstream.zst" "$2"'
    )
    socket = next(line for line in (home / CONF_NAME).read_text().splitlines() if line.startswith("socket = "))
    mysql_dir(out)
    settle()
    started = time.perf_counter()
    as_mysql(script, str(home), str(out), socket.split(" = ", 1)[1])
    seconds = time.perf_counter() - started
    shutil.rmtree(out)
    return seconds


def until(client: httpx.Client, path: str, state: str) -> None:
    """Wait for `path` to reach `state` as the provider waits for it (its own polling function at its pace:
    provider/client/waiting.py), so that the API side costs what it costs a Terraform user."""
    wait_for(
        lambda: client.get(path).json(), until=(state,), failed=("Failed", "FAILED"), timeout=3600, stop=None, what=path
    )


def fork_by_hand(stored: Path, scratch: Path) -> float:
    """The stored backup unpacked, prepared, moved back into a new datadir and started: the seconds until the
    server answers a query. The server is killed and its files removed afterwards."""
    work, home = scratch / "unpacked", scratch / "home"
    port = free_loopback_port()
    socket = scratch / "hand.sock"
    mysql_dir(home)
    settle()
    started = time.perf_counter()
    mysql_dir(work)
    # The stored object is read by root, as the control plane reads it, and unpacked by the account.
    pipeline = 'set -o pipefail; zstd -d -q -c "$1" | runuser -u mysql -- mbstream -x -C "$2"'
    unpack = subprocess.run(
        ["bash", "-c", pipeline, "unpack", str(stored), str(work)],
        capture_output=True,
        text=True,
    )
    if unpack.returncode != 0:
        raise SystemExit(f"unpacking {stored} failed: {unpack.stderr}")
    as_mysql(
        'mariabackup --prepare --target-dir="$1" 2>/dev/null && '
        'mariabackup --move-back --target-dir="$1" --datadir="$2/data" 2>/dev/null',
        str(work),
        str(home),
    )
    as_mysql(
        '"$1" --no-defaults --datadir="$2/data" --port="$3" --bind-address=127.0.0.1 --socket="$4" '
        '--pid-file="$2/pid" --log-error="$2/log" </dev/null >/dev/null 2>&1 & '
        'until mariadb --no-defaults --socket="$4" --user=mysql defaultdb -e "$5" >/dev/null 2>&1; do sleep 0.01; done',
        SERVER_PROGRAM,
        str(home),
        str(port),
        str(socket),
        FIRST_QUERY,
    )
    seconds = time.perf_counter() - started
    as_mysql('kill -9 "$(cat "$1/pid")"; rm -rf "$1" "$2" "$3"', str(home), str(work), str(socket))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=300, help="the database's size in MB (default 300)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with running_control_plane("dbaas-bench-mysql-") as bench:
        client = bench.client
        service = create_service(client, "big", service_type="mysql", plan="hobbyist")
        load(service["uri"], args.mb)
        home = bench.plane.data_dir / "regions" / "local-east" / "services" / "bench" / "big"
        size = sum(path.stat().st_size for path in (home / "data").rglob("*") if path.is_file())
        print(f"datadir size: {size / 1e6:.0f} MB")
        base = full_backup(client, "big", "base")
        location, stanza, label = parse_handle(base["backup_handle"], "mariabackup")
        stored = Path(location) / "mysql" / stanza / "backups" / label / DATA_NAME
        taken = iter(range(1, 1_000_000))

        def backup_through_api() -> float:
            name = f"api-{next(taken)}"
            path = f"{SERVICES}/big/backups/{name}"
            settle()
            started = time.perf_counter()
            client.put(path, json={}).raise_for_status()
            until(client, path, "Succeeded")
            seconds = time.perf_counter() - started
            client.delete(f"{SERVICES}/big/backups/{name}").raise_for_status()
            wait_for_gone(client, f"{SERVICES}/big/backups/{name}")
            return seconds

        backups = interleaved(
            {"api": backup_through_api, "hand": lambda: backup_by_hand(home, bench.scratch / "by-hand")}, args.runs
        )
        throughput = pair_ratios(backups["hand"], backups["api"])  # time by hand / time through the API
        best = size / min(backups["api"]) / 1e6
        print(f"full backup through the API: {describe(backups['api'], 's')}, {best:.0f} MB/s at best")
        print(f"mariabackup | zstd by hand:  {describe(backups['hand'], 's')}")
        print(f"throughput, API / by hand:   {describe_ratio(throughput, at_least=0.9)}")
        print(f"  pair by pair:              {' '.join(f'{ratio:.2f}' for ratio in throughput)}")

        forks = iter(range(1, 1_000_000))

        def fork_through_api() -> float:
            name = f"fork-{next(forks)}"
            body = {"name": name, "service_type": "mysql", "cloud": "local-east", "plan": "hobbyist"}
            settle()
            started = time.perf_counter()
            client.post(SERVICES, json={**body, "fork_from": {"service": "big", "backup": "base"}}).raise_for_status()
            until(client, f"{SERVICES}/{name}", "RUNNING")
            rows(client.get(f"{SERVICES}/{name}").json()["uri"], FIRST_QUERY)
            seconds = time.perf_counter() - started
            client.delete(f"{SERVICES}/{name}").raise_for_status()
            wait_for_gone(client, f"{SERVICES}/{name}")
            return seconds

        fork_scratch = mysql_dir(bench.scratch / "fork-by-hand")
        fork_times = interleaved(
            {"api": fork_through_api, "hand": lambda: fork_by_hand(stored, fork_scratch)}, args.runs
        )
        print(f"fork to first query through the API: {describe(fork_times['api'], 's')}")
        print(f"unpack, prepare, move-back, start:   {describe(fork_times['hand'], 's')}")
        fork_ratios = pair_ratios(fork_times["api"], fork_times["hand"])
        print(f"time, API / by hand:                 {describe_ratio(fork_ratios, 1.2)}")
        print(f"  pair by pair:                      {' '.join(f'{ratio:.2f}' for ratio in fork_ratios)}")
        remove_tree(fork_scratch)


if __name__ == "__main__":
    main()
