"""API tokens: handed out once in plain text, stored only as their sha256.

A token is 32 random bytes, so a fast hash is enough: there is nothing to guess or brute-force that a
slow password hash would protect.
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.catalog.clock import now
from controlplane.catalog.models import Token
from controlplane.catalog.projects import ensure_project

TOKEN_PREFIX = "dbaas_"


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


def list_tokens(session: Session) -> list[Token]:
    """Every token, oldest first (their hashes are no secret, but never show them)."""
    return list(session.scalars(select(Token).order_by(Token.id)))


def revoke_token(session: Session, *, token_id: int) -> bool:
    """Delete the token `token_id`; False when there is none.

    Requests look their token up in the catalog each time (api/dependencies.py), so a revoked token is
    refused from the next request on, by every control plane sharing the catalog.
    """
    token = session.get(Token, token_id)
    if token is None:
        return False
    session.delete(token)
    session.flush()
    return True
