"""Secrets sealed at rest: service passwords are stored encrypted with a key only the control plane reads.

The key is a Fernet key (AES-128-CBC with HMAC-SHA256) in a 0600 file of the control plane's user, made at
the first start (`load_key`); every control plane sharing a catalog reads the same file. `SealedString` is the
column type: it seals on the way in and opens on the way out. A value stored before sealing existed (no
`sealed:` prefix) reads as it is and is sealed again by `services.reseal_passwords` at start.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PREFIX = "sealed:"
_sealer: Fernet | None = None


class SealingError(Exception):
    """No key is loaded, or a sealed value does not open with the key loaded."""


def load_key(path: Path) -> bool:
    """Use the key in `path`, making it (0600, never through a link) when it does not exist; True if made.

    A new key is written whole under a temporary name and linked into place, so a crash or a second control
    plane starting at the same moment never sees a partial key: the loser of the race reads the winner's.
    """
    global _sealer
    made = False
    if not path.exists():
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(Fernet.generate_key())
                file.flush()
                os.fsync(file.fileno())
            os.link(temporary, path)
            made = True
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as file:
        try:
            _sealer = Fernet(file.read().strip())
        except ValueError as exc:
            raise SealingError(f"{path} holds no Fernet key: {exc}") from exc
    return made


def forget_key(path: Path) -> None:
    """Remove a key `load_key` just made and unload it (it turned out to be the wrong one)."""
    global _sealer
    path.unlink(missing_ok=True)
    _sealer = None


def seal(value: str) -> str:
    return PREFIX + _key().encrypt(value.encode()).decode()


def unseal(value: str) -> str:
    if not value.startswith(PREFIX):
        return value  # stored before sealing existed; resealed at start
    return _open(_key(), value.removeprefix(PREFIX))


# Every read of a service opens its password, and opening (HMAC, then AES) costs more than the rest of an API
# read of the row: a value once opened is kept, under the key that opened it, so another key opens it anew.
@functools.lru_cache(maxsize=4096)
def _open(sealer: Fernet, token: str) -> str:
    try:
        return sealer.decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SealingError("a sealed catalog value does not open with this control plane's key") from exc


def _key() -> Fernet:
    if _sealer is None:
        raise SealingError("no sealing key is loaded (sealing.load_key)")
    return _sealer


class SealedString(TypeDecorator[str]):
    """A string column stored sealed."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else seal(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else unseal(value)


class SealedJSON(TypeDecorator[Any]):
    """A JSON document stored as sealed text."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else seal(json.dumps(value, separators=(",", ":")))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(unseal(value))
