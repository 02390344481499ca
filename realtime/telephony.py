"""Acting on the phone call itself: transfer to a person, or hang up.

With Twilio credentials the live call is updated through the REST API with the ``twilio`` SDK
(new TwiML with ``<Dial>`` for a transfer, ``Status=completed`` to hang up), which ends the
media stream. In the embedded default the request is only recorded, and the session closes
the stream itself.

A call the caller already ended (Twilio 20404, or 21220 "not in progress") needs nothing more
and is not an error. Throttling, server errors and network failures are retried once after a
short pause; anything else raises ``TelephonyError`` with Twilio's status and code only (its
message can quote phone numbers).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import VoiceResponse

log = logging.getLogger(__name__)

CALL_ENDED = frozenset({20404, 21220})  # unknown call / call not in progress
RETRY_DELAY_S = 0.5


class TelephonyError(RuntimeError):
    """Twilio refused to act on the call (bad credentials, invalid request, outage)."""


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
    """``Telephony`` through Twilio's Calls API; ``base_url`` points the SDK at another host."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        base_url: str | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("TwilioTelephony needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
        self._client = Client(
            account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout_s)
        )
        if base_url:
            # Edge/region routing rewrites hostnames, which would mangle a local address.
            self._client.api.base_url = base_url.rstrip("/")
            self._client.edge = None
            self._client.region = None

    async def transfer(self, call_sid: str, to_number: str) -> None:
        await self._update(call_sid, twiml=transfer_twiml(to_number))

    async def hangup(self, call_sid: str) -> None:
        await self._update(call_sid, status="completed")

    async def _update(self, call_sid: str, **fields: str) -> None:
        def call() -> None:
            self._client.api.v2010.account.calls(call_sid).update(**fields)

        for attempt in (1, 2):
            try:
                await asyncio.to_thread(call)
                return
            except TwilioRestException as exc:
                if exc.code in CALL_ENDED or exc.status == 404:
                    log.info("call already ended", extra={"call_sid": call_sid, "code": exc.code})
                    return
                transient = exc.status == 429 or exc.status >= 500
                reason = f"twilio answered HTTP {exc.status}" + (
                    f" (error {exc.code})" if exc.code else ""
                )
            except requests.RequestException as exc:
                transient, reason = True, f"twilio unreachable ({type(exc).__name__})"
            if not transient or attempt == 2:
                log.error("call update failed", extra={"call_sid": call_sid, "reason": reason})
                raise TelephonyError(reason) from None
            await asyncio.sleep(RETRY_DELAY_S)
