"""The request-body size limit (``server.max_body_bytes``), enforced before anything parses.

A pure ASGI middleware: a request whose ``Content-Length`` is over the limit is answered 413
at once, without reading its body; a body without a length (``Transfer-Encoding: chunked``) is
read here, counting bytes, and answered 413 as soon as the count passes the limit, so no more
than the limit (plus one chunk) is ever held. A body within the limit is replayed to the app
unchanged. Nothing is parsed before this check.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    """Answer 413 (one line) to a request body over ``limit`` bytes.

    Args:
        app: the ASGI app behind.
        limit: most bytes a request body may have.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1  # the HTTP server refuses a malformed length before we get here
            if length > self.limit:
                await self._refuse(send)
                return
            # The server delivers exactly Content-Length bytes: nothing more to count.
            await self.app(scope, receive, send)
            return
        if b"chunked" not in headers.get(b"transfer-encoding", b""):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: the app sees the disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": f"the request body is larger than {self.limit} bytes "
                                     "(server.max_body_bytes)"}).encode("utf-8")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
