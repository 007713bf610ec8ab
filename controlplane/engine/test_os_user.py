"""The account's file writes under concurrency: two jobs (a verification and a restore test of one repository,
say) rewriting one configuration file at the same moment each replace it whole, and neither fails."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path

from controlplane.engine.os_user import resolve_account


def test_two_threads_rewriting_one_file_at_once_both_succeed() -> None:
    account = resolve_account("postgres")
    with tempfile.TemporaryDirectory(prefix="dbaas-write-file-") as scratch:
        directory = Path(scratch)
        directory.chmod(0o711)
        target = directory / "pgbackrest.conf"
        failures: list[BaseException] = []
        start = threading.Barrier(2)

        def rewrite(text: str) -> None:
            start.wait()
            try:
                for _ in range(200):
                    account.write_file(target, text.encode())
            except BaseException as exc:  # reported in the test's thread
                failures.append(exc)

        writers = [threading.Thread(target=rewrite, args=(text,)) for text in ("one\n", "two\n")]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        assert failures == []
        assert target.read_text() in ("one\n", "two\n")
        assert sorted(path.name for path in directory.iterdir()) == ["pgbackrest.conf"], "no temporary left"
