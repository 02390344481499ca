"""A WebSocket server on its own thread and event loop, for the streaming-provider fakes.

The provider fakes (Deepgram, ElevenLabs) run like remote services: in a background thread with
their own asyncio loop, so the code under test talks to them over real sockets and their timing
does not depend on the test's loop. ``process_request`` can refuse the opening handshake with
an HTTP status (401, 503), as the real services do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

Handler = Callable[[ServerConnection], Awaitable[None]]
ProcessRequest = Callable[[ServerConnection, Request], Response | None]


@contextmanager
def serve_websocket(handler: Handler, process_request: ProcessRequest) -> Iterator[int]:
    """Serve on a free 127.0.0.1 port until the block ends; yields the port."""
    loop = asyncio.new_event_loop()
    started: threading.Event = threading.Event()
    port: list[int] = []
    stop: asyncio.Event | None = None

    async def main() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with serve(
            handler, "127.0.0.1", 0, process_request=process_request, ping_interval=None
        ) as server:
            port.append(next(iter(server.sockets)).getsockname()[1])
            started.set()
            await stop.wait()
            # A fake needs no graceful goodbye: drop every socket so no handler outlives us.
            for connection in list(server.connections):
                connection.transport.abort()
            server.close(close_connections=False)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("websocket fake did not start")
    try:
        yield port[0]
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()
