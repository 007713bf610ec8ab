"""Streams between database programs and repositories: a program whose output (or input) is streamed, and
a reader that counts, hashes and watches what passes, so that backups and binary logs go from a program
or a file to a store (and back) without being held whole in memory or on local disk.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import signal
import subprocess
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Any, BinaryIO, cast

from controlplane.engine.os_user import Account, CommandError

_STDERR_LINES = 30
_CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20  # Linux's default /proc/sys/fs/pipe-max-size


class StreamCancelled(Exception):
    """A stream's `cancel` event was set: the work was abandoned between two reads."""


class Streamed:
    """A program run as `account` whose standard output (or input) we stream; its stderr is drained into a
    short tail for errors. Leaving the block kills it if it still runs."""

    def __init__(self, account: Account, argv: list[str], *, stdin: bool) -> None:
        # Account's own spawn, so the program gets the identity, environment, umask and death with us that
        # `Account.run` gives; `run` itself captures whole outputs, which a backup must not be.
        self._process = account._spawn(argv, stdin, None)
        self._argv = argv
        pipe = self._process.stdin if stdin else self._process.stdout
        if pipe is not None:
            # 1 MiB instead of 64 KiB: the program and we each get more done between two switches.
            with contextlib.suppress(OSError):
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    @property
    def stdout(self) -> BinaryIO | None:
        return _binary(self._process.stdout)

    @property
    def stdin(self) -> BinaryIO | None:
        return _binary(self._process.stdin)

    def _read_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line.rstrip("\n"))

    def check(self) -> None:
        """Wait for the program's end; CommandError with its stderr tail unless it exited 0."""
        status = self._process.wait()
        self._drain.join()
        if status != 0:
            raise CommandError(self._argv, f"exited with status {status}", stderr="\n".join(self._stderr))

    def __enter__(self) -> Streamed:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=30)
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError, ValueError):
                    pipe.close()
        self._drain.join(timeout=30)


def _binary(pipe: IO[str] | None) -> BinaryIO | None:
    """The byte stream under a text pipe of Popen(text=True)."""
    return None if pipe is None else cast(BinaryIO, cast(io.TextIOWrapper, pipe).buffer)


class Metered(io.RawIOBase):
    """A readable stream that counts (and hashes) what passes through it, shows it to `observe` and honours
    `cancel` between reads."""

    def __init__(
        self,
        source: IO[bytes] | BinaryIO | Any,
        *,
        cancel: threading.Event | None = None,
        digest: bool = True,
        observe: Callable[[bytes], None] | None = None,
    ) -> None:
        self._source = source
        self._cancel = cancel
        self._digest = hashlib.sha256() if digest else None
        self._observe = observe
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes (a chunk when negative), b"" at the end; handed on without a copy."""
        if self._cancel is not None and self._cancel.is_set():
            raise StreamCancelled("cancelled")
        data: bytes = self._source.read(size if size >= 0 else _CHUNK)
        if not data:
            return b""
        self.size += len(data)
        if self._digest is not None:
            self._digest.update(data)
        if self._observe is not None:
            self._observe(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def hexdigest(self) -> str:
        assert self._digest is not None
        return self._digest.hexdigest()
