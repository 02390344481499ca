"""Local stand-ins for provider APIs, speaking each provider's documented wire protocol.

Each fake is a real server on 127.0.0.1 (uvicorn for HTTP APIs, asyncio for SMTP) running in a
background thread, so the adapters under test use their real clients unchanged. Fakes record
what arrived, so tests assert on the wire content, and can be told to fail the next requests.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True)
class Received:
    """One HTTP request as it arrived."""

    method: str
    path: str  # percent-decoded
    raw_path: str  # as sent
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass(frozen=True)
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeHttpApi:
    """Base of the HTTP fakes: records every request and answers scripted replies first."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: deque[Scripted] = deque()
        self.url = ""

    def build_app(self) -> ASGIApp:
        raise NotImplementedError

    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        self.script.append(Scripted(status, body, headers or {}))

    def requests_to(self, method: str, path_part: str) -> list[Received]:
        return [r for r in self.received if r.method == method and path_part in r.path]

    @contextmanager
    def running(self) -> Iterator[str]:
        with serve(_Recording(self, self.build_app())) as url:
            self.url = url
            yield url


class _Recording:
    def __init__(self, fake: FakeHttpApi, app: ASGIApp) -> None:
        self.fake = fake
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.fake.received.append(
            Received(
                method=scope["method"],
                path=scope["path"],
                raw_path=(scope.get("raw_path") or scope["path"].encode()).decode(),
                query=dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True)),
                headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
                body=body,
            )
        )
        if self.fake.script:
            reply = self.fake.script.popleft()
            response: Response = (
                Response(status_code=reply.status, headers=reply.headers)
                if reply.body is None
                else JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
            )
            await response(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port in a background thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def closed_port_url() -> str:
    """A URL nothing listens on, for connection-failure tests."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
