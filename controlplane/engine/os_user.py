"""The OS account that runs database programs, and how to run a command as it.

PostgreSQL refuses to run as root. When the control plane is root (as in CI and containers), every
program it drives (initdb, pg_ctl, the server, pgBackRest) runs as an unprivileged account, `postgres`
by default: `subprocess.Popen(user=, group=, extra_groups=)` drops privileges in the child between fork
and exec, which is thread safe and needs no `runuser`/`sudo`. When the control plane is not root it
cannot switch users, so programs simply run as the current user.

Children get a fixed, minimal environment (nothing of ours leaks into them: no tokens, no PG* variables),
umask 077, `/` as working directory and stdin from /dev/null. They die with the control plane: a child is
started through util-linux's `setpriv --pdeathsig KILL`, which asks the kernel to kill it when the thread
that started it ends, so a control plane killed with -9 leaves no pgBackRest, psql or pg_ctl writing a
repository that another control plane has taken over (the servers pg_ctl starts are not its children and
live on). Threads that start commands (job workers, request threads) outlive them, as `run` waits.
setpriv, rather than prctl in a preexec_fn, because preexec_fn is unsafe in a threaded process.

The account owns the data directories, the stanza configuration directories and the repositories, so
whoever runs code as it (a tenant who broke out of PostgreSQL) can plant links, FIFOs and files there.
Root must never follow them: `open_directory` and `open_beneath` walk to a directory one component at a
time (`openat` with `O_NOFOLLOW`), and `Account.write_file` creates its temporary file with `O_EXCL`.
"""

from __future__ import annotations

import errno
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

_PATH = "/usr/local/bin:/usr/bin:/bin"
# How often a cancellable command checks its cancel event, and how long a cancelled or timed-out command
# gets between SIGTERM and SIGKILL.
_CANCEL_POLL = 0.05
_KILL_GRACE = 5.0
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_MAX_LINKS = 40  # as the kernel's own limit on links followed in one lookup
# Sets the parent-death signal after the privilege drop (a change of user clears it) and execs the command,
# which keeps its pid. None where util-linux is missing: children then outlive a killed control plane.
_DIE_WITH_PARENT = shutil.which("setpriv", path=_PATH)
logger = logging.getLogger(__name__)


class AccountError(Exception):
    """The OS account cannot be used to run database programs."""


class CommandError(Exception):
    """A command failed, timed out or was cancelled; the message has the command and its stderr tail."""

    def __init__(self, argv: Sequence[str], reason: str, stdout: str = "", stderr: str = "") -> None:
        self.argv = list(argv)
        self.reason = reason
        self.stdout = stdout
        self.stderr = stderr
        detail = (stderr.strip() or stdout.strip())[-2000:]
        super().__init__(f"{' '.join(argv)}: {reason}" + (f"\n{detail}" if detail else ""))


@dataclass(frozen=True)
class Account:
    """An OS account database programs run as; `switch` is True when children must drop to it."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str
    switch: bool

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The whole environment of a child: minimal and fixed, plus `extra`."""
        env = {
            "PATH": _PATH,
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C",
            "LC_ALL": "C",
        }
        env.update(extra or {})
        return env

    def own(self, path: Path) -> None:
        """Give `path` to this account (a no-op when children run as ourselves)."""
        if self.switch:
            os.chown(path, self.uid, self.gid, follow_symlinks=False)

    def own_descriptor(self, fd: int) -> None:
        """Give the open file or directory `fd` to this account (a no-op when children run as ourselves)."""
        if self.switch:
            os.fchown(fd, self.uid, self.gid)

    def write_file(self, path: Path, data: bytes, mode: int = 0o600) -> None:
        """Replace `path` atomically with `data`, as a file of this account with `mode`.

        `path`'s directory may belong to this account, which could have planted `.<name>.<pid>.<thread>.tmp` as a link
        to any file: the stale name is unlinked (never followed) and the temporary file created with
        `O_EXCL|O_NOFOLLOW`, so a link planted again in between fails the write instead of being followed.
        """
        directory = open_directory(path.parent)
        # One temporary name per writer: two jobs writing one file at once must not rename each other's away.
        temporary = f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            try:
                os.unlink(temporary, dir_fd=directory)
            except FileNotFoundError:
                pass
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(temporary, flags, mode, dir_fd=directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(fd)
                self.own_descriptor(fd)
            os.replace(temporary, path.name, src_dir_fd=directory, dst_dir_fd=directory)
        finally:
            os.close(directory)

    def own_tree(self, root: Path) -> None:
        """Give `root` and everything below it to this account (after a copy made by root)."""
        if not self.switch:
            return
        self.own(root)
        # fwalk hands out every directory open: a directory given to the account early in the walk and
        # then replaced by a link cannot send the rest of the walk (and its chowns) elsewhere.
        for _, dirnames, filenames, directory in os.fwalk(root):
            for name in dirnames + filenames:
                os.chown(name, self.uid, self.gid, dir_fd=directory, follow_symlinks=False)

    def private_dir(self, path: Path, mode: int = 0o700) -> None:
        """Create `path` if needed as a directory of this account with `mode`; refuse someone else's.

        Refusing matters for directories in shared places such as /tmp, where another user could have
        created the name first.
        """
        try:
            path.mkdir(mode=mode)
            self.own(path)
        except FileExistsError:
            pass
        # Checked and changed through one descriptor: a link swapped in after the check is never chmod-ed.
        try:
            fd = os.open(path, DIRECTORY_FLAGS)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            raise AccountError(f"{path} exists but is not a directory owned by {self.name}") from None
        try:
            info = os.fstat(fd)
            if info.st_uid != self.uid:
                raise AccountError(f"{path} exists but is not a directory owned by {self.name}")
            if stat.S_IMODE(info.st_mode) != mode:
                os.fchmod(fd, mode)
        finally:
            os.close(fd)

    def can_traverse(self, directory: Path) -> bool:
        """Whether this account may enter `directory`, judged from its owner, group and mode bits."""
        info = directory.stat()
        if info.st_uid == self.uid:
            return bool(info.st_mode & stat.S_IXUSR)
        if info.st_gid == self.gid or info.st_gid in self.groups:
            return bool(info.st_mode & stat.S_IXGRP)
        return bool(info.st_mode & stat.S_IXOTH)

    def make_reachable_parent(self, path: Path) -> None:
        """Create the parent chain of `path` and check this account can walk down it to `path`.

        Directories we create are world-traversable (not readable); existing ones are never loosened
        behind the operator's back, so an unreachable one is reported instead.
        """
        parent = path.absolute().parent
        for directory in [*reversed(parent.parents), parent]:
            if not directory.exists():
                # chmod after mkdir: mkdir's mode is filtered by our umask.
                directory.mkdir(exist_ok=True)
                directory.chmod(0o711)
            if not self.can_traverse(directory):
                raise AccountError(
                    f"{self.name} cannot enter {directory} (on the way to {path}): "
                    f"give it search permission (chmod o+x) or choose a directory {self.name} can reach"
                )

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        cancel: threading.Event | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` as this account and return its output; raise CommandError unless it exits 0.

        The command runs in its own session so that a timeout or a set `cancel` can terminate it with
        everything it started (SIGTERM, then SIGKILL after a grace period).
        """
        try:
            proc = self._spawn(argv, stdin is not None, env)
        except (OSError, subprocess.SubprocessError) as exc:  # missing program, failed privilege drop
            raise CommandError(argv, f"could not run: {exc}") from exc
        deadline = time.monotonic() + timeout
        stdin_text = stdin
        while True:
            remaining = deadline - time.monotonic()
            # Without a cancel event one wait does; with one, wake up often enough to notice it.
            wait = remaining if cancel is None else min(remaining, _CANCEL_POLL)
            try:
                out, err = proc.communicate(stdin_text, timeout=max(wait, 0.001))
                break
            except subprocess.TimeoutExpired:
                stdin_text = None  # communicate() sends input only once
                if cancel is not None and cancel.is_set():
                    out, err = _terminate(proc)
                    raise CommandError(argv, "cancelled", out, err) from None
                if time.monotonic() >= deadline:
                    out, err = _terminate(proc)
                    raise CommandError(argv, f"timed out after {timeout:g} s", out, err) from None
        if proc.returncode != 0:
            raise CommandError(argv, f"exited with status {proc.returncode}", out, err)
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)

    def _spawn(self, argv: Sequence[str], with_stdin: bool, env: Mapping[str, str] | None) -> subprocess.Popen[str]:
        prefix = [_DIE_WITH_PARENT, "--pdeathsig", "KILL", "--"] if _DIE_WITH_PARENT else []
        return subprocess.Popen(
            [*prefix, *argv],
            stdin=subprocess.PIPE if with_stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env(env),
            cwd="/",
            umask=0o077,
            start_new_session=True,
            # None leaves the child's identity alone: we are not root and run it as ourselves.
            user=self.uid if self.switch else None,
            group=self.gid if self.switch else None,
            extra_groups=list(self.groups) if self.switch else None,
        )


def open_directory(path: Path) -> int:
    """A descriptor of directory `path`, walked to from `/` without following a link someone else planted.

    A link on the way is followed only when root (or we, when not root) owns it and no one else can
    replace it: its directory is ours and writable by no one else, or sticky. So operators' links
    (`/var/run`) work, and a link in a directory of the database account is refused with ELOOP.
    """
    fd = os.open("/", DIRECTORY_FLAGS)
    pending = list(path.absolute().parts[1:])
    links = 0
    try:
        while pending:
            name = pending.pop(0)
            try:
                step = os.open(name, DIRECTORY_FLAGS, dir_fd=fd)
            except OSError as exc:
                link = _trusted_link(fd, name, exc)
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many links", str(path)) from None
                if link.startswith("/"):
                    os.close(fd)
                    fd = os.open("/", DIRECTORY_FLAGS)
                pending[:0] = [part for part in PurePath(link).parts if part != "/"]
                continue
            os.close(fd)
            fd = step
        return fd
    except BaseException:
        os.close(fd)
        raise


def read_file(path: Path, *, offset: int = 0, limit: int = 1 << 20) -> str:
    """The text of regular file `path` after byte `offset` (its last `limit` bytes at most), read without
    following a link planted in its directory or as it, and without blocking on a planted FIFO."""
    directory = open_directory(path.parent)
    try:
        fd = os.open(path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=directory)
    finally:
        os.close(directory)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        file.seek(max(offset, info.st_size - limit))
        return file.read(limit).decode("utf-8", "replace")


def tail(path: Path, offset: int, *, lines: int = 20) -> str:
    """The last `lines` lines written to log file `path` since `offset` ("" when none), read as `read_file`."""
    return "\n".join(read_file(path, offset=offset, limit=64 * 1024).splitlines()[-lines:])


def open_beneath(fd: int, parts: Iterable[str], *, create: Account | None = None) -> int:
    """A descriptor of the directory `parts` below the open directory `fd`, following no link at all.

    For trees the database account can write: a component that is a link (ENOTDIR), `..` or empty
    (EINVAL) fails, so the walk never leaves the tree. With `create`, missing directories are made (mode 0750)
    and given to that account, and a link where a directory belongs is removed (never followed) first.
    """
    current = os.dup(fd)
    try:
        for name in parts:
            if name in ("", ".", "..") or "/" in name:
                raise OSError(errno.EINVAL, "not a name of a directory entry", name)
            try:
                step = os.open(name, DIRECTORY_FLAGS, dir_fd=current)
            except OSError as exc:
                if create is None or not _replaceable(current, name, exc):
                    raise
                try:
                    os.mkdir(name, 0o750, dir_fd=current)
                    made = True
                except FileExistsError:  # another thread made it first
                    made = False
                step = os.open(name, DIRECTORY_FLAGS, dir_fd=current)
                if made:
                    create.own_descriptor(step)
            os.close(current)
            current = step
        return current
    except BaseException:
        os.close(current)
        raise


def _replaceable(directory: int, name: str, failure: OSError) -> bool:
    """Whether `name` in `directory`, which an O_NOFOLLOW open failed with `failure`, is absent now (a link
    there is unlinked: the account's directory is no place for links to follow, and unlinkat never does)."""
    if failure.errno == errno.ENOENT:
        return True
    if failure.errno not in (errno.ELOOP, errno.ENOTDIR):
        return False
    try:
        if not stat.S_ISLNK(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode):
            return False
        os.unlink(name, dir_fd=directory)
    except FileNotFoundError:
        pass
    logger.warning("removed a link planted where a directory belongs: %s", name)
    return True


def _trusted_link(fd: int, name: str, failure: OSError) -> str:
    """The target of link `name` in directory `fd` if only a trusted user can have put it there.

    Re-raises `failure` (the O_NOFOLLOW open of `name`) when `name` is no link, ELOOP when it is one
    planted by someone else.
    """
    try:
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        raise failure from None
    if not stat.S_ISLNK(info.st_mode):
        raise failure
    holder = os.fstat(fd)
    trusted = {0, os.geteuid()}
    others_write = holder.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if (
        info.st_uid not in trusted
        or holder.st_uid not in trusted
        or (others_write and not holder.st_mode & stat.S_ISVTX)
    ):
        raise OSError(errno.ELOOP, "a link someone else could have planted is not followed", name)
    return os.readlink(name, dir_fd=fd)


def _terminate(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop `proc`'s whole session politely, then forcibly; return what it wrote."""
    for sig, grace in ((signal.SIGTERM, _KILL_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return proc.communicate(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
    return "", ""  # unreachable: communicate() without a timeout returns


def resolve_account(os_user: str | None) -> Account:
    """The account database programs run as: `os_user` when we are root, else the current user.

    Raises AccountError when we are root and `os_user` is missing, unknown or itself root.
    """
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, tuple(os.getgroups()), entry.pw_dir, False)
    if not os_user:
        raise AccountError("running as root: an unprivileged os_user must run PostgreSQL")
    try:
        entry = pwd.getpwnam(os_user)
    except KeyError:
        raise AccountError(f"OS user {os_user!r} does not exist") from None
    if entry.pw_uid == 0:
        raise AccountError(f"OS user {os_user!r} is root: PostgreSQL refuses to run as root")
    groups = tuple(g for g in os.getgrouplist(entry.pw_name, entry.pw_gid) if g != entry.pw_gid)
    home = entry.pw_dir if entry.pw_dir and os.path.isdir(entry.pw_dir) else "/"
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, home, True)
