"""SCRAM-SHA-256 password verifiers as PostgreSQL stores them (RFC 5802, RFC 7677).

`ALTER ROLE … PASSWORD '<verifier>'` with a verifier computed here sets a password without the password itself
reaching the server, a command line, a log or an error message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ITERATIONS = 4096  # PostgreSQL's default scram_iterations
_SALT_BYTES = 16


def scram_verifier(password: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, base64, for `password`.

    PostgreSQL normalises passwords with SASLprep; for the ASCII passwords the control plane makes, that
    leaves them unchanged.
    """
    if not password.isascii():
        raise ValueError("only ASCII passwords are hashed here (SASLprep is not applied)")
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
