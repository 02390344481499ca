"""A small ESMTP server (RFC 5321 subset with AUTH PLAIN, RFC 4954) that records deliveries.

Speaks EHLO/HELO, AUTH PLAIN (with or without an initial response), MAIL, RCPT, DATA (with
dot-unstuffing), RSET, NOOP and QUIT. It never offers STARTTLS. Replies can be scripted per
recipient (``rcpt_replies``) and for the end of DATA (``data_reply``).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage

HOSTNAME = "fake-smtp.test"


@dataclass
class Delivery:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    auth_user: str | None

    def message(self) -> EmailMessage:
        # The wire uses CRLF line ends; stored mail, like Python strings, uses LF.
        parsed = message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Session:
    auth_user: str | None = None
    mail_from: str | None = None
    rcpt_to: list[str] = field(default_factory=list)


def _address(argument: str) -> str:
    start, end = argument.find("<"), argument.find(">")
    return argument[start + 1 : end] if 0 <= start < end else argument.split(":", 1)[-1].strip()


class FakeSmtpServer:
    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.username = username
        self.password = password
        self.deliveries: list[Delivery] = []
        self.commands: list[str] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_reply: str | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @contextmanager
    def running(self) -> Iterator[FakeSmtpServer]:
        loop = asyncio.new_event_loop()
        server = loop.run_until_complete(asyncio.start_server(self._handle, self.host, 0))
        self.port = server.sockets[0].getsockname()[1]
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:

            async def shut_down() -> None:
                server.close()
                await server.wait_closed()

            asyncio.run_coroutine_threadsafe(shut_down(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def reply(*lines: str) -> None:
            writer.write("".join(f"{line}\r\n" for line in lines).encode())
            await writer.drain()

        session = _Session()
        await reply(f"220 {HOSTNAME} ESMTP ready")
        try:
            while line := await reader.readline():
                verb, _, argument = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
                verb = verb.upper()
                self.commands.append(verb)
                if verb == "QUIT":
                    await reply("221 2.0.0 Bye")
                    break
                await reply(*await self._command(verb, argument, session, reader, reply))
        finally:
            writer.close()

    async def _command(
        self,
        verb: str,
        argument: str,
        session: _Session,
        reader: asyncio.StreamReader,
        reply: Callable[[str], Awaitable[None]],
    ) -> list[str]:
        if verb == "EHLO":
            features = ["8BITMIME", "SIZE 10485760"] + (["AUTH PLAIN"] if self.username else [])
            return [f"250-{HOSTNAME}", *(f"250-{f}" for f in features[:-1]), f"250 {features[-1]}"]
        if verb == "HELO":
            return [f"250 {HOSTNAME}"]
        if verb == "AUTH":
            mechanism, _, initial = argument.partition(" ")
            if mechanism.upper() != "PLAIN" or not self.username:
                return ["504 5.5.4 Unrecognized authentication type"]
            if not initial:
                await reply("334 ")
                initial = (await reader.readline()).decode().strip()
            _, user, password = base64.b64decode(initial).decode().split("\0")
            if (user, password) != (self.username, self.password):
                return ["535 5.7.8 Authentication credentials invalid"]
            session.auth_user = user
            return ["235 2.7.0 Authentication successful"]
        if verb == "MAIL":
            if self.username and not session.auth_user:
                return ["530 5.7.0 Authentication required"]
            session.mail_from, session.rcpt_to = _address(argument), []
            return ["250 2.1.0 OK"]
        if verb == "RCPT":
            if session.mail_from is None:
                return ["503 5.5.1 Need MAIL first"]
            address = _address(argument)
            answer = self.rcpt_replies.get(address, "250 2.1.5 OK")
            if answer.startswith("250"):
                session.rcpt_to.append(address)
            return [answer]
        if verb == "DATA":
            if not session.rcpt_to:
                return ["503 5.5.1 Need RCPT first"]
            await reply("354 End data with <CR><LF>.<CR><LF>")
            lines = []
            while (data_line := await reader.readline()) not in (b".\r\n", b""):
                lines.append(data_line[1:] if data_line.startswith(b".") else data_line)
            answer = self.data_reply or "250 2.0.0 OK queued"
            if answer.startswith("250"):
                self.deliveries.append(
                    Delivery(
                        session.mail_from or "",
                        list(session.rcpt_to),
                        b"".join(lines),
                        session.auth_user,
                    )
                )
            session.mail_from, session.rcpt_to = None, []
            return [answer]
        if verb in ("RSET", "NOOP"):
            if verb == "RSET":
                session.mail_from, session.rcpt_to = None, []
            return ["250 2.0.0 OK"]
        return ["502 5.5.2 Command not recognized"]
