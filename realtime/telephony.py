"""Acting on the phone call itself: transfer to a person, or hang up.

With Twilio credentials the live call is updated through the REST API (new TwiML with
``<Dial>`` for a transfer, ``Status=completed`` to hang up), which ends the media stream. In
the embedded default the request is only recorded, and the session closes the stream itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

log = logging.getLogger(__name__)


class Telephony(Protocol):
    async def transfer(self, call_sid: str, to_number: str) -> None: ...

    async def hangup(self, call_sid: str) -> None: ...


@dataclass
class RecordedTelephony:
    """The embedded default: remembers what was asked (the call record shows it)."""

    transfers: list[tuple[str, str]] = field(default_factory=list)
    hangups: list[str] = field(default_factory=list)

    async def transfer(self, call_sid: str, to_number: str) -> None:
        self.transfers.append((call_sid, to_number))

    async def hangup(self, call_sid: str) -> None:
        self.hangups.append(call_sid)


def transfer_twiml(to_number: str) -> str:
    response = VoiceResponse()
    response.say("Connecting you to our front desk now.")
    response.dial(to_number)
    return str(response)


class TwilioTelephony:
    def __init__(self, account_sid: str, auth_token: str, base_url: str | None = None) -> None:
        self._client = Client(account_sid, auth_token)
        if base_url:
            self._client.api.base_url = base_url.rstrip("/")

    async def transfer(self, call_sid: str, to_number: str) -> None:
        await self._update(call_sid, twiml=transfer_twiml(to_number))

    async def hangup(self, call_sid: str) -> None:
        await self._update(call_sid, status="completed")

    async def _update(self, call_sid: str, **fields: str) -> None:
        def call() -> None:
            self._client.calls(call_sid).update(**fields)

        try:
            await asyncio.to_thread(call)
        except TwilioRestException as exc:
            if exc.status == 404:  # the caller already hung up
                log.info("call already ended", extra={"call_sid": call_sid})
                return
            raise
