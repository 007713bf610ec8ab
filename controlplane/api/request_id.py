"""Request ids and the access log: one line per API request, in the control plane's log format.

The id is the caller's `X-Request-Id` when it is a plain token (letters, digits and `._:-`, at most 128
characters: it is written into log lines as given), else a new random one. It is answered in the
response's `X-Request-Id` and carried by every log line of the request (controlplane/logging_setup.py).
This access line replaces uvicorn's own, which knows nothing of the id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.logging_setup import current_request_id

HEADER = "X-Request-Id"
_ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("controlplane.api.access")


def request_id_from(headers: Headers) -> str:
    """The caller's id if it is safe to log as given, else a new one."""
    given = headers.get(HEADER)
    return given if given is not None and _ACCEPTED_ID.fullmatch(given) else uuid.uuid4().hex


class RequestId:
    """The middleware: `app.add_middleware(RequestId)`, added last so that it sees every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(Headers(scope=scope))
        # Not reset at the end: the request's task ends with it, and uvicorn's own line about an
        # exception escaping the application, logged after this returns, still carries the id.
        current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500  # what the client gets if the application raises before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message).append(HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed_ms)
