"""Request bodies over MAX_BODY_BYTES answer 413 before they are read into memory (DESIGN §4).

A pure ASGI middleware outside the routes and their dependencies, authentication included: FastAPI reads
a route's body before it solves the route's dependencies, so without it a request with no token could make
the process hold a body of any size. A declared `Content-Length` over the cap is answered without calling the
application; a chunked body is counted while the application streams it in.

FastAPI's own `max_body_size` is not used: it answers only once a route reads the body, and in plain
text rather than the API's error shape.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from controlplane.api.errors import error_body

MAX_BODY_BYTES = 1024 * 1024
_MESSAGE = f"request body larger than {MAX_BODY_BYTES} bytes (1 MiB)"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once a streamed body passes the cap, inside the route that reads it. An
    HTTPException, because FastAPI turns any other error while reading a body into a 400; the API's handler
    of HTTPExceptions (errors.py) answers it as 413 `too_large`."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=_MESSAGE)


class BodyLimit:
    """The middleware: `app.add_middleware(BodyLimit)`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            response = JSONResponse(error_body("too_large", _MESSAGE, None), status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > MAX_BODY_BYTES:
                    raise BodyTooLarge
            return message

        await self.app(scope, limited_receive, send)
