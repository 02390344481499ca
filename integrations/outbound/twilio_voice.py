"""Outbound calls through Twilio's Calls API with the official ``twilio`` SDK.

``Calls.create`` with ``MachineDetection=DetectMessageEnd`` and ``AsyncAmd=true``: the call is
connected to our answer URL at once (a person hears the receptionist without the detection
delay), and Twilio reports ``AnsweredBy`` to the AMD callback when it knows; a machine's
greeting has then ended, so ``play`` swaps the call to a short voicemail. Per-clinic settings as
for SMS: ``account_sid`` / ``auth_token`` (or ``TWILIO_*``), ``api_base_url`` (tests).
"""

from __future__ import annotations

import asyncio
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from integrations.errors import PermanentError, TransientError
from integrations.outbound.protocol import OutboundCall, PlacedCall
from integrations.registry import AdapterContext

SYSTEM = "twilio"
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


class TwilioDialer:
    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        process = context.settings
        account_sid = settings.get("account_sid") or process.twilio_account_sid
        auth_token = settings.get("auth_token") or process.twilio_auth_token
        if not account_sid or not auth_token:
            raise PermanentError(
                "twilio dialer needs account_sid and auth_token", code="twilio_not_configured"
            )
        self._client = Client(account_sid, auth_token)
        base_url = settings.get("api_base_url") or process.twilio_api_base_url
        if base_url:
            self._client.api.base_url = str(base_url).rstrip("/")
            self._client.edge = None
            self._client.region = None

    async def place(self, call: OutboundCall) -> PlacedCall:
        def create() -> str:
            created = self._client.calls.create(
                to=call.to,
                from_=call.from_,
                url=call.answer_url,
                method="POST",
                status_callback=call.status_callback_url,
                status_callback_method="POST",
                status_callback_event=STATUS_EVENTS,
                machine_detection="DetectMessageEnd",
                async_amd="true",
                async_amd_status_callback=call.amd_callback_url,
                async_amd_status_callback_method="POST",
            )
            return str(created.sid)

        return PlacedCall(call_sid=await self._run(create))

    async def play(self, call_sid: str, twiml: str) -> None:
        def update() -> None:
            self._client.calls(call_sid).update(twiml=twiml)

        try:
            await self._run(update)
        except PermanentError as exc:
            if exc.code == "http_404":  # the call already ended: nothing to play to
                return
            raise

    @staticmethod
    async def _run(fn: Any) -> Any:
        # Raised ``from None``: Twilio's messages can echo the number dialled.
        try:
            return await asyncio.to_thread(fn)
        except TwilioRestException as exc:
            status = int(exc.status)
            message = f"{SYSTEM} answered HTTP {status}" + (
                f" (error {exc.code})" if exc.code else ""
            )
            if status == 429 or status >= 500:
                raise TransientError(message, code=f"http_{status}") from None
            if status == 404:
                raise PermanentError(message, code="http_404") from None
            raise PermanentError(message, code=f"twilio_{exc.code or status}") from None
        except requests.RequestException as exc:
            raise TransientError(
                f"{SYSTEM} connection error: {type(exc).__name__}", code="connection"
            ) from None
