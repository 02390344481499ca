"""Twilio's Messages API (REST 2010-04-01), enough of it for sending SMS.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with a form body (``To``, ``From`` or
``MessagingServiceSid``, ``Body``, ``StatusCallback``) and HTTP Basic auth of account SID and
auth token; answers 201 with the Message resource, or Twilio's error JSON
``{"code", "message", "more_info", "status"}``. Twilio's documented magic test numbers pick
the failures: +15005550001 -> 21211 (invalid 'To'), +15005550004 -> 21610 (unsubscribed
recipient), +15005550009 -> 21614 (not a mobile number).
"""

from __future__ import annotations

import base64
import secrets
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes import FakeHttpApi

MAGIC_FAILURES = {
    "+15005550001": (21211, "The 'To' number {to} is not a valid phone number."),
    "+15005550004": (21610, "Attempt to send to unsubscribed recipient {to}"),
    "+15005550009": (21614, "'To' number {to} is not a valid mobile number"),
}


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


class FakeTwilio(FakeHttpApi):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: dict[str, dict[str, Any]] = {}

    def build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
        async def create_message(account_sid: str, request: Request) -> JSONResponse:
            expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
            if (
                request.headers.get("authorization") != f"Basic {expected}"
                or account_sid != self.account_sid
            ):
                return twilio_error(401, 20003, "Authenticate")
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            to = form.get("To")
            if not to:
                return twilio_error(400, 21604, "A 'To' phone number is required.")
            if not form.get("From") and not form.get("MessagingServiceSid"):
                return twilio_error(400, 21603, "A 'From' phone number is required.")
            if to in MAGIC_FAILURES:
                code, text = MAGIC_FAILURES[to]
                return twilio_error(400, code, text.format(to=to))
            sid = "SM" + secrets.token_hex(16)
            now = formatdate(usegmt=True)
            message: dict[str, Any] = {
                "sid": sid,
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": form.get("Body", ""),
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "status": "queued" if form.get("From") else "accepted",
                "subresource_uris": {},
                "to": to,
                "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            }
            self.messages[sid] = message
            return JSONResponse(message, status_code=201)

        return app
