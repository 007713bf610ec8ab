"""API tokens: handed out once in plain text, stored only as their sha256.

A token is 32 random bytes, so a fast hash is enough: there is nothing to guess or brute-force that a
slow password hash would protect. Requests find their caller through `CallerCache`, which keeps what it found
for `CALLER_TTL_SECONDS`: a revoked token stops working within that time, without a lookup per request.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import Token
from controlplane.catalog.projects import ensure_project

TOKEN_PREFIX = "dbaas_"
CALLER_TTL_SECONDS = 2.0
_CACHED_CALLERS = 4096  # tokens in use at once are far fewer; the oldest go first


@dataclass(frozen=True)
class Caller:
    """Who a request's token is: its id, and the project it may see (None: the admin token, every project)."""

    token_id: int
    project: str | None


def hash_token(token: str) -> str:
    """The hex sha256 under which `token` is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, *, project: str | None, description: str = "") -> str:
    """A new token for `project` (None: an admin token that sees every project); returns its plain text.

    The plain text is not stored anywhere: show it to the user now. The project is created if needed.
    """
    if project is not None:
        ensure_project(session, name=project)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(Token(project=project, token_hash=hash_token(token), description=description, created_at=now(session)))
    session.flush()
    return token


def find_token(session: Session, *, token: str) -> Token | None:
    """The stored token whose plain text is `token`, or None."""
    return session.scalar(select(Token).where(Token.token_hash == hash_token(token)))


def find_caller(session: Session, token_hash: str) -> Caller | None:
    """The caller whose token is stored under `token_hash`, or None."""
    row = session.execute(select(Token.id, Token.project).where(Token.token_hash == token_hash)).first()
    return None if row is None else Caller(token_id=row.id, project=row.project)


class CallerCache:
    """Callers found recently, keyed by their token's hash (never its text); tokens not found are not kept."""

    def __init__(self, ttl_seconds: float = CALLER_TTL_SECONDS, size: int = _CACHED_CALLERS) -> None:
        self._ttl = ttl_seconds
        self._size = size
        self._found: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._lock = threading.Lock()

    def cached(self, token: str) -> Caller | None:
        """The caller of `token` if the cache holds it, fresh; else None."""
        token_hash = hash_token(token)
        with self._lock:
            cached = self._found.get(token_hash)
            if cached is not None and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
        return None

    def fetch(self, token: str, find: Callable[[str], Caller | None]) -> Caller | None:
        """The caller of `token` from `find(token_hash)`, kept for the next requests (forgotten if not found)."""
        token_hash = hash_token(token)
        now_s = time.monotonic()
        found = find(token_hash)
        with self._lock:
            if found is None:
                self._found.pop(token_hash, None)
            else:
                self._found[token_hash] = (now_s, found)
                self._found.move_to_end(token_hash)
                while len(self._found) > self._size:
                    self._found.popitem(last=False)
        return found


def list_tokens(session: Session) -> list[Token]:
    """Every token, oldest first (their hashes are no secret, but never show them)."""
    return list(session.scalars(select(Token).order_by(Token.id)))


def revoke_token(session: Session, *, token_id: int) -> bool:
    """Delete the token `token_id`; False when there is none.

    A control plane that saw the token lately keeps its caller for `CALLER_TTL_SECONDS`: the token is refused
    by every control plane sharing the catalog within that time.
    """
    token = session.get(Token, token_id)
    if token is None:
        return False
    session.delete(token)
    session.flush()
    return True
