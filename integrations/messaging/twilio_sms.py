"""SMS through Twilio Programmable Messaging, with the official ``twilio`` SDK.

Per-clinic settings (each falls back to the process settings where one exists):
``account_sid`` / ``auth_token`` (required; ``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN``),
``from_number`` and/or ``messaging_service_sid`` (the sender when a message names none),
``status_callback_url``, ``api_base_url`` (``twilio_api_base_url``; tests point the SDK at a
local server), ``timeout_seconds`` (default 15).

The SDK is blocking (``requests``), so each send runs in a worker thread. Failures map to:
HTTP 429 and 5xx -> ``TransientError`` (with ``Retry-After`` when sent); other 4xx ->
``PermanentError`` coded ``twilio_<error code>`` (e.g. 21211 invalid 'To', 21610 unsubscribed
recipient, 20003 bad credentials); network errors -> ``TransientError``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from integrations.errors import IntegrationError, PermanentError, TransientError
from integrations.http import retry_after
from integrations.messaging.protocol import OutgoingMessage, SendResult
from integrations.registry import AdapterContext

SYSTEM = "twilio"


class _HeaderKeepingHttpClient(TwilioHttpClient):
    """Remembers each thread's last response: ``TwilioRestException`` drops the headers, and
    with them ``Retry-After``."""

    def __init__(self, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._local = threading.local()

    def request(self, *args: Any, **kwargs: Any) -> Response:
        self._local.response = None
        response: Response = super().request(*args, **kwargs)
        self._local.response = response
        return response

    def last_retry_after(self) -> timedelta | None:
        response = getattr(self._local, "response", None)
        headers: Mapping[str, str] = getattr(response, "headers", None) or {}
        value = headers.get("Retry-After")
        if value is None:
            return None
        return retry_after(httpx.Response(429, headers={"Retry-After": value}))


class TwilioSmsSender:
    """Sends SMS with Twilio's Messages API; see the module docstring for settings."""

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        process = context.settings
        account_sid = settings.get("account_sid") or process.twilio_account_sid
        auth_token = settings.get("auth_token") or process.twilio_auth_token
        if not account_sid or not auth_token:
            raise PermanentError(
                "twilio adapter needs account_sid and auth_token", code="twilio_not_configured"
            )
        self._from_number: str | None = settings.get("from_number")
        self._messaging_service_sid: str | None = settings.get("messaging_service_sid")
        self._status_callback: str | None = settings.get("status_callback_url")
        self._http = _HeaderKeepingHttpClient(timeout=float(settings.get("timeout_seconds", 15)))
        self._client = Client(account_sid, auth_token, http_client=self._http)
        base_url = settings.get("api_base_url") or process.twilio_api_base_url
        if base_url:
            # Each SDK domain keeps its host in ``Domain.base_url``; messages live on ``api``.
            # Edge/region routing rewrites hostnames, which would mangle a local address.
            self._client.api.base_url = str(base_url).rstrip("/")
            self._client.edge = None
            self._client.region = None

    async def send(self, message: OutgoingMessage) -> SendResult:
        if message.channel != "sms":
            raise PermanentError(f"twilio cannot send channel {message.channel!r}", code="channel")
        params: dict[str, str] = {"to": message.recipient, "body": message.body}
        sender = message.sender or self._from_number
        if sender:
            params["from_"] = sender
        if self._messaging_service_sid:
            params["messaging_service_sid"] = self._messaging_service_sid
        if "from_" not in params and "messaging_service_sid" not in params:
            raise PermanentError(
                "twilio adapter has no from_number or messaging_service_sid",
                code="twilio_no_sender",
            )
        if self._status_callback:
            params["status_callback"] = self._status_callback
        sid = await asyncio.to_thread(self._create, params)
        return SendResult(provider_message_id=sid)

    def _create(self, params: dict[str, str]) -> str:
        # Raised ``from None``: the SDK's exceptions quote Twilio's message, which can echo the
        # recipient's number, and a chained cause would carry it into workflow history.
        try:
            created = self._client.api.v2010.account.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise self._classify(int(exc.status), exc.code) from None
        except requests.RequestException as exc:
            raise TransientError(
                f"{SYSTEM} connection error: {type(exc).__name__}", code="connection"
            ) from None
        return str(created.sid)

    def _classify(self, status: int, code: int | None) -> IntegrationError:
        message = f"{SYSTEM} answered HTTP {status}" + (f" (error {code})" if code else "")
        if status == 429 or status >= 500:
            return TransientError(
                message, code=f"http_{status}", retry_after=self._http.last_retry_after()
            )
        if code and code != status:
            return PermanentError(message, code=f"twilio_{code}")
        return PermanentError(message, code=f"http_{status}")
