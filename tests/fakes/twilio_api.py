"""Twilio's REST API 2010-04-01, enough of it for SMS and for acting on live calls.

Every request needs HTTP Basic auth of account SID and auth token (20003 otherwise); errors are
Twilio's JSON ``{"code", "message", "more_info", "status"}``.

Messages: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with a form body (``To``,
``From`` or ``MessagingServiceSid``, ``Body``, ``StatusCallback``) answers 201 with the Message
resource. Twilio's documented magic test numbers pick the failures: +15005550001 -> 21211
(invalid 'To'), +15005550004 -> 21610 (unsubscribed recipient), +15005550009 -> 21614 (not a
mobile number).

Calls: ``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` updates a live call with
``Twiml`` (new instructions, e.g. ``<Dial>`` for a transfer; 12100 when it is not XML) or
``Status`` (``completed`` hangs up an in-progress call, ``canceled`` a queued or ringing one),
answering 200 with the Call resource; an unknown call is 20404 (HTTP 404) and new TwiML for a
call that is no longer in progress is 21220. Tests create calls with ``add_call``.
``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` places an outbound call (``To``, ``From``,
``Url`` or ``Twiml``, ``MachineDetection``, ``AsyncAmd``, callbacks): 201 with a queued call.
"""

from __future__ import annotations

import base64
import secrets
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl
from xml.etree import ElementTree

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
        self.calls: dict[str, dict[str, Any]] = {}

    def add_call(
        self, status: str = "in-progress", *, to: str = "+15550001111", from_: str = "+15550002222"
    ) -> str:
        """A live call the API knows about (as if Twilio had connected it); returns its SID."""
        sid = "CA" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        self.calls[sid] = {
            "sid": sid,
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "direction": "inbound",
            "from": from_,
            "to": to,
            "status": status,
            "twiml": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Calls/{sid}.json",
        }
        return sid

    def _authorised(self, request: Request, account_sid: str) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (
            request.headers.get("authorization") == f"Basic {expected}"
            and account_sid == self.account_sid
        )

    def build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json")
        async def update_call(account_sid: str, call_sid: str, request: Request) -> JSONResponse:
            if not self._authorised(request, account_sid):
                return twilio_error(401, 20003, "Authenticate")
            call = self.calls.get(call_sid)
            if call is None:
                return twilio_error(
                    404, 20404, f"The requested resource {request.url.path} was not found"
                )
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            status, twiml = form.get("Status"), form.get("Twiml")
            if status is not None:
                allowed = {"completed": {"in-progress"}, "canceled": {"queued", "ringing"}}
                if status not in allowed:
                    return twilio_error(400, 20001, f"Invalid Status: {status}")
                if call["status"] in allowed[status]:
                    call["status"] = status
            elif twiml is not None:
                try:
                    ElementTree.fromstring(twiml)
                except ElementTree.ParseError:
                    return twilio_error(400, 12100, "Document parse failure")
                if call["status"] != "in-progress":
                    return twilio_error(400, 21220, "Call is not in-progress. Cannot redirect.")
                call["twiml"] = twiml
            call["date_updated"] = formatdate(usegmt=True)
            return JSONResponse(call)

        @app.post("/2010-04-01/Accounts/{account_sid}/Calls.json")
        async def create_call(account_sid: str, request: Request) -> JSONResponse:
            if not self._authorised(request, account_sid):
                return twilio_error(401, 20003, "Authenticate")
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            if not form.get("To") or not form.get("From"):
                return twilio_error(400, 21201, "'To' and 'From' are required.")
            if not form.get("Url") and not form.get("Twiml"):
                return twilio_error(400, 21205, "Url or Twiml is required.")
            if form.get("MachineDetection", "Enable") not in ("Enable", "DetectMessageEnd"):
                return twilio_error(400, 21232, "Invalid MachineDetection")
            sid = self.add_call("queued", to=form["To"], from_=form["From"])
            self.calls[sid]["direction"] = "outbound-api"
            return JSONResponse(self.calls[sid], status_code=201)

        @app.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
        async def create_message(account_sid: str, request: Request) -> JSONResponse:
            if not self._authorised(request, account_sid):
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
