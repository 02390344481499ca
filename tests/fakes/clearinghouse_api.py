"""A Stedi-style real-time eligibility endpoint (270 request / 271 response as JSON).

``POST /2024-04-01/change/medicalnetwork/eligibility/v3`` with ``Authorization: <api key>``.
Validates what Stedi requires (``tradingPartnerServiceId``, ``provider`` with a name and NPI,
``subscriber``; ``controlNumber`` of nine digits when sent; ``dateOfBirth`` as YYYYMMDD), then
answers from its member table: ``planStatus`` / ``planInformation`` / ``planDateInformation``
for known members, AAA errors (in ``subscriber.aaaErrors`` or ``payer.aaaErrors`` and the
top-level ``errors``) otherwise: 75 for an unknown member, 71 for a birth date mismatch, 42 for
a payer marked down.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes import FakeHttpApi

PATH = "/2024-04-01/change/medicalnetwork/eligibility/v3"
AAA = {
    "42": ("Unable to Respond at Current Time", "Resubmission Allowed"),
    "71": (
        "Patient Birth Date Does Not Match That for the Patient on the Database",
        "Please Correct and Resubmit",
    ),
    "72": ("Invalid/Missing Subscriber/Insured ID", "Please Correct and Resubmit"),
    "75": ("Subscriber/Insured Not Found", "Please Correct and Resubmit"),
}
STATUS_TEXT = {"1": "Active Coverage", "6": "Inactive"}


@dataclass
class Member:
    first_name: str
    last_name: str
    date_of_birth: str  # YYYYMMDD
    status_code: str = "1"
    service_types: tuple[str, ...] = ("30", "35")
    plan_description: str = "DENTAL PPO"
    aaa_code: str | None = None  # the payer rejects this member with this AAA code
    aaa_http_status: int = 200


def _aaa(code: str, loop: str) -> dict[str, str]:
    description, action = AAA[code]
    return {
        "field": "AAA",
        "code": code,
        "description": description,
        "followupAction": action,
        "location": loop,
    }


class FakeClearinghouse(FakeHttpApi):
    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.members: dict[str, Member] = {}
        self.payers_down: set[str] = set()

    @property
    def endpoint(self) -> str:
        return self.url + PATH

    def build_app(self) -> FastAPI:
        app = FastAPI()

        @app.post(PATH)
        async def eligibility(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != self.api_key:
                return JSONResponse({"message": "Access denied"}, status_code=403)
            check = await request.json()
            problem = self._validate(check)
            if problem:
                return JSONResponse({"message": problem, "code": "ValidationException"}, 400)
            return self._answer(check)

        return app

    @staticmethod
    def _validate(check: dict[str, Any]) -> str | None:
        provider, subscriber = check.get("provider") or {}, check.get("subscriber") or {}
        if not check.get("tradingPartnerServiceId"):
            return "tradingPartnerServiceId is required"
        if not provider.get("npi") or not provider.get("organizationName"):
            return "provider needs npi and organizationName"
        if not subscriber:
            return "subscriber is required"
        if "controlNumber" in check and not re.fullmatch(r"\d{9}", check["controlNumber"]):
            return "controlNumber must be 9 digits"
        if "dateOfBirth" in subscriber and not re.fullmatch(r"\d{8}", subscriber["dateOfBirth"]):
            return "dateOfBirth must be YYYYMMDD"
        return None

    def _answer(self, check: dict[str, Any]) -> JSONResponse:
        payer_id, subscriber = check["tradingPartnerServiceId"], check["subscriber"]
        base: dict[str, Any] = {
            "controlNumber": check.get("controlNumber", "123456789"),
            "tradingPartnerServiceId": payer_id,
            "provider": {
                "providerName": check["provider"]["organizationName"],
                "npi": check["provider"]["npi"],
            },
            "payer": {"name": f"PAYER {payer_id}", "payorIdentification": payer_id},
        }
        if payer_id in self.payers_down:
            error = _aaa("42", "Loop 2100A")
            return JSONResponse(
                {**base, "payer": {**base["payer"], "aaaErrors": [error]}, "errors": [error]}
            )
        member = self.members.get(subscriber.get("memberId", ""))
        code = None
        if member is None:
            code = "75"
        elif member.aaa_code:
            code = member.aaa_code
        elif subscriber.get("dateOfBirth") != member.date_of_birth:
            code = "71"
        if code:
            error = _aaa(code, "Loop 2100C")
            status = member.aaa_http_status if member and member.aaa_code else 200
            return JSONResponse(
                {**base, "subscriber": {**subscriber, "aaaErrors": [error]}, "errors": [error]},
                status_code=status,
            )
        assert member is not None
        plan_status = [
            {
                "statusCode": member.status_code,
                "status": STATUS_TEXT[member.status_code],
                "planDetails": member.plan_description,
                "serviceTypeCodes": [stc],
            }
            for stc in member.service_types
        ]
        return JSONResponse(
            {
                **base,
                "subscriber": {
                    "memberId": subscriber["memberId"],
                    "firstName": member.first_name.upper(),
                    "lastName": member.last_name.upper(),
                    "dateOfBirth": member.date_of_birth,
                },
                "planInformation": {
                    "planDescription": member.plan_description,
                    "groupNumber": "GRP-100",
                },
                "planDateInformation": {"planBegin": "20260101", "plan": "20260101-20261231"},
                "planStatus": plan_status,
                "benefitsInformation": [
                    {
                        "code": member.status_code,
                        "name": STATUS_TEXT[member.status_code],
                        "serviceTypeCodes": list(member.service_types),
                    }
                ],
                "errors": [],
            }
        )
