"""Root never follows what the database account plants: a tenant who runs code as `postgres` attacks.

The account owns the repositories, the stanza configuration directories and the data directories; the
control plane (root) copies repositories to other regions and writes configuration files into them. The
attacker's moves are made as that account (`Account.run` of `ln -s`, `mkfifo`, `printf`), against a
repository laid out as pgBackRest lays it out, real files throughout; one test goes through a real
control plane and its replicator.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.engine.os_user import Account, resolve_account, tail
from controlplane.engine.pgbackrest import PgBackRest, PgBackRestError, Repository, Stanza, enable_fork_archiving
from controlplane.engine.plans import PLANS
from controlplane.engine.postgres import CONF_NAME, Postgres
from controlplane.settings import load_settings
from controlplane.storage.directory import DirectoryRepository
from controlplane.storage.repository_copy import SourceChanged, holds_wal, listed_backups, plan_copy, run_copy
from tests.controlplane.cp_process import ControlPlane, remove_tree, unprivileged_reachable_dir, wait_for_state
from tests.controlplane.test_backups import backup
from tests.controlplane.test_replication import stanza_of, wait_for_replica

SECRET = b"root:$6$only-root-may-read-this\n"
STANZA = "acme-orders-1"
LABEL = "20261201-120000F"
ARCHIVE = f"archive/{STANZA}/15-1/0000000100000000"
WAL = "000000010000000000000001"
PLANTED_WAL = "000000010000000000000002"
DATA = f"backup/{STANZA}/{LABEL}/pg_data"
ARCHIVE_INFO = b'[db]\ndb-id=1\ndb-version="15"\n\n[db:history]\n1={"db-id":7315,"db-version":"15"}\n'
BACKUP_INFO = (
    f'[backrest]\nbackrest-format=5\n\n[backup:current]\n{LABEL}={{"backup-type":"full"}}\n\n[db]\ndb-id=1\n'
).encode()
# Every regular file of the legitimate repository, with its content: exactly what a copy must hold.
LEGITIMATE = {
    f"archive/{STANZA}/archive.info": ARCHIVE_INFO,
    f"archive/{STANZA}/archive.info.copy": ARCHIVE_INFO,
    f"{ARCHIVE}/{WAL}-{'a' * 40}.zst": b"a WAL segment",
    f"backup/{STANZA}/backup.info": BACKUP_INFO,
    f"backup/{STANZA}/backup.info.copy": BACKUP_INFO,
    f"backup/{STANZA}/{LABEL}/backup.manifest": b'[backup]\nbackup-label="' + LABEL.encode() + b'"\n',
    f"backup/{STANZA}/{LABEL}/backup.manifest.copy": b'[backup]\nbackup-label="' + LABEL.encode() + b'"\n',
    f"{DATA}/PG_VERSION.zst": b"15",
    f"{DATA}/base/1/1259.zst": b"pg_class",
    f"backup/{STANZA}/backup.history/2026/{LABEL}.manifest.gz": b"history",
}


@pytest.fixture
def account() -> Account:
    found = resolve_account("postgres")
    assert found.switch, "these tests attack root from the database account: run them as root, as CI does"
    return found


@pytest.fixture
def scratch() -> Iterator[Path]:
    """Root's directory, which the account may traverse, with a root-only secret inside."""
    path = unprivileged_reachable_dir("dbaas-planted-links-")
    secret_dir = path / "secret"
    secret_dir.mkdir(mode=0o700)
    (secret_dir / "shadow").write_bytes(SECRET)
    (secret_dir / "shadow").chmod(0o600)
    yield path
    remove_tree(path)


def as_account(account: Account, script: str) -> None:
    """The attacker's move: a shell script run as the database account."""
    account.run(["sh", "-ec", script], timeout=30)


def build_repository(account: Account, root: Path) -> Path:
    """A stanza's repository in `root/default`, as pgBackRest leaves it, owned by the account."""
    repository = root / "default"
    for relative, content in LEGITIMATE.items():
        (repository / relative).parent.mkdir(parents=True, exist_ok=True)
        (repository / relative).write_bytes(content)
    (repository / "backup" / STANZA / "latest").symlink_to(LABEL)
    account.own_tree(repository)
    return repository


def tree(root: Path) -> dict[str, bytes]:
    """Every regular file below `root` (without following links), by relative path; nothing else may be there."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(directory) / name
            mode = path.lstat().st_mode
            assert stat.S_ISDIR(mode) or stat.S_ISREG(mode), f"{path} is neither a file nor a directory"
            if stat.S_ISREG(mode):
                found[str(path.relative_to(root))] = path.read_bytes()
    return found


def test_copy_follows_no_planted_link_opens_no_fifo_and_copies_the_legitimate_files(
    account: Account, scratch: Path
) -> None:
    secret = scratch / "secret"
    source_path = build_repository(account, scratch / "east")
    source = DirectoryRepository("east", source_path, account)
    west = scratch / "west"
    target_path = west / "default"
    target = DirectoryRepository("west", target_path, account)
    elsewhere = scratch / "elsewhere"
    west.mkdir(mode=0o711)
    elsewhere.mkdir(mode=0o755)
    account.private_dir(target_path, 0o750)
    as_account(
        account,
        f"""
        cd {source_path}
        ln -s {secret}/shadow {ARCHIVE}/{PLANTED_WAL}-{"b" * 40}.zst   # a WAL file
        ln -s {secret}/shadow {DATA}/base/1/16384.zst                   # a data file
        ln -s {secret} {DATA}/global                                    # a directory
        mkfifo {DATA}/base/1/16385.zst
        rm archive/{STANZA}/archive.info.copy; ln -s {secret}/shadow archive/{STANZA}/archive.info.copy
        rm backup/{STANZA}/backup.info.copy; mkfifo backup/{STANZA}/backup.info.copy
        printf '[backup:current]\\n../../etc={{}}\\n../../../../secret={{}}\\n' >> backup/{STANZA}/backup.info
        ln -s {elsewhere} {target_path}/archive                         # a directory of the target
        """,
    )
    planted_info = (source_path / "backup" / STANZA / "backup.info").read_bytes()

    plan = plan_copy(source, target, STANZA)
    assert plan.labels == (LABEL,), "labels that are no pgBackRest label are never paths"
    run_copy(plan, source, target, STANZA)

    copied = tree(target_path)
    assert all(SECRET not in content for content in copied.values())
    expected = dict(
        LEGITIMATE, **{f"backup/{STANZA}/{name}": planted_info for name in ("backup.info", "backup.info.copy")}
    )
    assert copied == expected, "the legitimate files, and nothing else"
    assert all(path.lstat().st_uid == account.uid for path in target_path.rglob("*")), "the copy is the account's"
    assert listed_backups(target, STANZA) == (LABEL,)
    assert holds_wal(target, STANZA, WAL) and not holds_wal(target, STANZA, PLANTED_WAL)
    assert list(elsewhere.iterdir()) == [], "nothing written through the target's planted link"
    assert sorted(p.name for p in scratch.iterdir()) == ["east", "elsewhere", "secret", "west"]
    assert sorted(p.name for p in west.iterdir()) == ["default"]
    assert (secret / "shadow").read_bytes() == SECRET and sorted(p.name for p in secret.iterdir()) == ["shadow"]
    assert plan_copy(source, target, STANZA).up_to_date


def test_a_file_swapped_for_a_fifo_or_link_after_planning_stops_the_pass(account: Account, scratch: Path) -> None:
    secret = scratch / "secret"
    source_path = build_repository(account, scratch / "east")
    source = DirectoryRepository("east", source_path, account)
    west = scratch / "west"
    west.mkdir(mode=0o711)
    target = DirectoryRepository("west", west / "default", account)
    plan = plan_copy(source, target, STANZA)
    as_account(
        account,
        f"""
        cd {source_path}
        rm {DATA}/PG_VERSION.zst; mkfifo {DATA}/PG_VERSION.zst
        rm {DATA}/base/1/1259.zst; ln -s {secret}/shadow {DATA}/base/1/1259.zst
        """,
    )
    with pytest.raises(SourceChanged):  # and returns: the FIFO is opened without waiting for a writer
        run_copy(plan, source, target, STANZA)
    assert listed_backups(target, STANZA) == (), "an interrupted pass lists no backup"

    run_copy(plan_copy(source, target, STANZA), source, target, STANZA)
    copied = tree(west / "default")
    assert all(SECRET not in content for content in copied.values())
    assert f"{DATA}/PG_VERSION.zst" not in copied and f"{DATA}/base/1/1259.zst" not in copied


def test_config_writers_replace_a_planted_tmp_link_and_leave_its_target_alone(account: Account, scratch: Path) -> None:
    victim = scratch / "secret" / "shadow"
    config_dir = scratch / "pgbackrest-conf"
    data_dir = scratch / "data"
    account.private_dir(data_dir)
    for name in ("PG_VERSION", "global/pg_control"):  # what makes a directory a cluster to configure()
        (data_dir / name).parent.mkdir(exist_ok=True)
        (data_dir / name).write_text("15\n")
    account.own_tree(data_dir)
    pgbr = PgBackRest(
        Stanza(
            name=STANZA,
            pg_data=data_dir,
            pg_port=5999,
            pg_socket_dir=scratch / "socket",
            pg_user="postgres",
            repositories=(Repository(index=1, path=scratch / "repository"),),
        ),
        config_dir=config_dir,
    )
    pgbr.write_config()
    # The temporary names the next writes use (this process, this thread), guessed by the tenant.
    suffix = f"{os.getpid()}.{threading.get_ident()}.tmp"
    as_account(
        account,
        f"""
        ln -s {victim} {config_dir}/.{pgbr.config_file.name}.{suffix}
        ln -s {victim} {data_dir}/.{CONF_NAME}.{suffix}
        """,
    )

    pgbr.write_config()
    Postgres(data_dir, port=5999).configure(plan=PLANS["hobbyist"], port=5999)

    assert victim.read_bytes() == SECRET and stat.S_IMODE(victim.stat().st_mode) == 0o600
    for written in (pgbr.config_file, data_dir / CONF_NAME):
        info = written.lstat()
        assert stat.S_ISREG(info.st_mode) and info.st_uid == account.uid and stat.S_IMODE(info.st_mode) == 0o600
        assert SECRET not in written.read_bytes()
        assert not written.with_name(f".{written.name}.{suffix}").exists()
    assert "[global]" in pgbr.config_file.read_text() and "port = '5999'" in (data_dir / CONF_NAME).read_text()


def test_a_fork_s_auto_conf_planted_as_a_link_is_neither_read_nor_written_through(
    account: Account, scratch: Path
) -> None:
    victim = scratch / "secret" / "shadow"
    data_dir = scratch / "fork"
    account.private_dir(data_dir)
    as_account(account, f"ln -s {victim} {data_dir}/postgresql.auto.conf")
    with pytest.raises(PgBackRestError):
        enable_fork_archiving(account, data_dir)
    assert victim.read_bytes() == SECRET
    as_account(account, f"rm {data_dir}/postgresql.auto.conf; mkfifo {data_dir}/postgresql.auto.conf")
    with pytest.raises(PgBackRestError):
        enable_fork_archiving(account, data_dir)  # a FIFO: refused at once, never waited on


def test_a_log_planted_as_a_link_or_fifo_is_not_read_into_an_error_message(account: Account, scratch: Path) -> None:
    """Error messages quote the tail of the server's and pgBackRest's logs, which live in the account's dirs."""
    victim = scratch / "secret" / "shadow"
    logs = scratch / "logs"
    account.private_dir(logs)
    as_account(account, f"ln -s {victim} {logs}/server.log; mkfifo {logs}/pgbackrest.log")
    for planted in ("server.log", "pgbackrest.log"):
        with pytest.raises(OSError):
            tail(logs / planted, 0)
    as_account(account, f"printf 'one\\ntwo\\nthree\\n' > {logs}/real.log")
    assert tail(logs / "real.log", 4, lines=2) == "two\nthree"


def test_write_file_refuses_a_directory_the_account_replaced_by_a_link(account: Account, scratch: Path) -> None:
    home = scratch / "home"
    account.private_dir(home)
    as_account(account, f"ln -s {scratch / 'secret'} {home}/conf")
    with pytest.raises(OSError, match="planted"):
        account.write_file(home / "conf" / "shadow", b"overwritten")
    assert (scratch / "secret" / "shadow").read_bytes() == SECRET


def test_the_replicator_does_not_copy_a_link_planted_in_the_source(control_plane: ControlPlane) -> None:
    """Through the real control plane: a link planted as the account in local-east's repository of a
    service copied to local-west never reaches the copy, and the copy goes on."""
    settings = load_settings(control_plane.data_dir, None, control_plane.config)
    east, west = settings.region("local-east"), settings.region("local-west")
    assert east is not None and west is not None and east.object_store and west.object_store
    secret_dir = unprivileged_reachable_dir("dbaas-planted-secret-")
    (secret_dir / "shadow").write_bytes(SECRET)
    secret_dir.chmod(0o700)
    project = "/v1/projects/acme"
    body = {
        "name": "planted",
        "service_type": "pg",
        "cloud": "local-east",
        "plan": "hobbyist",
        "user_config": {"additional_backup_regions": ["local-west"]},
    }
    try:
        with control_plane.client(control_plane.create_token("acme")) as client:
            assert client.post(f"{project}/services", json=body).status_code == 201, body
            wait_for_state(client, f"{project}/services/planted", {"RUNNING"})
            backup(client, f"{project}/services/planted/backups", name="first")
            wait_for_replica(client, "planted", "first", "local-west", "Succeeded")
            stanza = stanza_of(control_plane, "planted")
            source = east.object_store / "default"
            [wal_dir] = {path.parent for path in (source / "archive" / stanza).glob("*/*/*-*")}
            as_account(resolve_account("postgres"), f"ln -s {secret_dir}/shadow {wal_dir}/{'F' * 24}-{'c' * 40}")
            # A backup after the plant: its copy is made by a pass that listed the planted link.
            backup(client, f"{project}/services/planted/backups", name="second")
            wait_for_replica(client, "planted", "second", "local-west", "Succeeded")
            copied = tree(west.object_store / "default" / "archive" / stanza)
            assert copied and all(SECRET not in content for content in copied.values())
            assert not any(name.startswith("F" * 24) for name in map(os.path.basename, copied))
            assert client.delete(f"{project}/services/planted").status_code == 202
    finally:
        remove_tree(secret_dir)
