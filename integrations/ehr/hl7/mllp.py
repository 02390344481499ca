"""MLLP framing and a persistent client connection.

A frame is ``0x0B`` + message (segments separated by ``\\r``) + ``0x1C 0x0D``. Interfaces keep
one TCP connection open and have one message in flight at a time (the next waits for the ACK),
so ordering holds: an S15 can never overtake the S12 it cancels.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

START, END = b"\x0b", b"\x1c\x0d"
MAX_FRAME = 1 << 20  # a scheduling message is a few kilobytes; refuse runaway streams

log = logging.getLogger(__name__)


class FrameError(ValueError):
    """The peer sent bytes that are not an MLLP frame."""


def frame(message: str) -> bytes:
    return START + message.encode("utf-8") + END


async def read_frame(reader: asyncio.StreamReader) -> str | None:
    """The next message, or None when the peer closed cleanly between messages.

    Bytes before the start block (line noise, a stray keep-alive newline) are skipped.
    """
    try:
        data = await reader.readuntil(END)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise FrameError("connection closed inside a frame") from exc
    except asyncio.LimitOverrunError as exc:
        raise FrameError("frame larger than the stream limit") from exc
    start = data.find(START)
    if start < 0:
        raise FrameError("frame without a start block")
    return data[start + 1 : -len(END)].decode("utf-8", errors="replace")


class ConnectionLost(ConnectionError):
    """No answer on this connection (closed, reset, or not within the timeout)."""


class MllpConnection:
    """One persistent client connection to an MLLP peer, re-opened on demand.

    ``exchange`` sends a message and returns the peer's reply. Any failure closes the socket, so a
    late reply to an abandoned message can never be mistaken for the answer to the next one.
    """

    def __init__(
        self, host: str, port: int, *, connect_timeout: float = 5.0, reply_timeout: float = 10.0
    ) -> None:
        self.host, self.port = host, port
        self.connect_timeout, self.reply_timeout = connect_timeout, reply_timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()
        self.connections_opened = 0

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        # A peer that closed an idle connection has already sent its FIN: reconnect up front
        # instead of losing an attempt on a dead socket.
        if (
            self._reader is None
            or self._writer is None
            or self._writer.is_closing()
            or self._reader.at_eof()
        ):
            try:
                async with asyncio.timeout(self.connect_timeout):
                    self._reader, self._writer = await asyncio.open_connection(
                        self.host, self.port, limit=MAX_FRAME
                    )
            except (OSError, TimeoutError) as exc:
                raise ConnectionLost(f"cannot connect to {self.host}:{self.port}") from exc
            self.connections_opened += 1
            log.info("mllp connected", extra={"peer": f"{self.host}:{self.port}"})
        return self._reader, self._writer

    async def exchange(self, message: str) -> str:
        async with self._lock:
            reader, writer = await self._connect()
            try:
                writer.write(frame(message))
                async with asyncio.timeout(self.reply_timeout):
                    await writer.drain()
                    reply = await read_frame(reader)
            except (OSError, TimeoutError, FrameError) as exc:
                await self._drop()
                raise ConnectionLost("no reply from the MLLP peer") from exc
            if reply is None:
                await self._drop()
                raise ConnectionLost("the MLLP peer closed the connection")
            return reply

    async def _drop(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def close(self) -> None:
        async with self._lock:
            await self._drop()
