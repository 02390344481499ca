"""Insurance eligibility through a clearinghouse's real-time JSON 270/271 API (Stedi's shape).

Per-clinic settings, falling back to the process settings (``clearinghouse_*``): ``url`` (the
full endpoint, e.g. ``https://healthcare.us.stedi.com/2024-04-01/change/medicalnetwork/
eligibility/v3``), ``api_key``, ``provider_npi``, ``provider_name`` (all required), and settings
only: ``payer_ids`` (payer name -> trading partner id; unmapped payers are sent as given),
``timeout_seconds`` (60: payers commonly take up to a minute).

Request (``POST {url}``, header ``Authorization: <api key>``)::

    {"controlNumber": "<9 digits from request_key>", "tradingPartnerServiceId": "<payer id>",
     "provider": {"organizationName": ..., "npi": ...},
     "subscriber": {"memberId": ..., "firstName": ..., "lastName": ..., "dateOfBirth": "YYYYMMDD"},
     "encounter": {"serviceTypeCodes": ["35"]}}

Response fields read: ``planStatus[]`` (``statusCode``: X12 EB01 "1"-"4" active, "6"-"8"
inactive, "5" pending investigation = unknown; ``serviceTypeCodes``; ``planDetails``),
``planInformation`` (``planDescription``, ``groupDescription``), ``planDateInformation``, and
``errors[]`` (``code`` = AAA reject reason). AAA errors arrive with HTTP 200 or 400: 67, 71, 72,
73, 75 (patient/subscriber not found or not matching) -> ``NotFoundError``; 42 (unable to
respond now) and 80 (no response from payer) -> ``TransientError``; others -> ``PermanentError``.

Sources: Stedi OpenAPI ``healthcare.json`` (github.com/Stedi/openApi: EligibilityCheck request
and response schemas, ``PlanStatus``, ``PlanInformation``, ``EligibilityCheckError``; note that
``controlNumber`` is deprecated there, Stedi generates one when absent), and
stedi.com/docs/healthcare/eligibility-troubleshooting (AAA codes, which to retry).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from typing import Any

import httpx

from integrations.eligibility.protocol import (
    CoverageStatus,
    EligibilityRequest,
    EligibilityResult,
)
from integrations.errors import NotFoundError, PermanentError, TransientError
from integrations.http import raise_for_status, transport_error
from integrations.registry import AdapterContext

SYSTEM = "clearinghouse"
ACTIVE_CODES = {"1", "2", "3", "4"}
INACTIVE_CODES = {"6", "7", "8"}
NOT_FOUND_AAA = {"67", "71", "72", "73", "75"}
TRANSIENT_AAA = {"42", "80"}
HEALTH_BENEFIT_PLAN = "30"


def control_number(request_key: str) -> str:
    """Nine digits, the same for every attempt at one check."""
    if not request_key:
        return f"{secrets.randbelow(10**9):09d}"
    return f"{int(hashlib.sha256(request_key.encode()).hexdigest(), 16) % 10**9:09d}"


class ClearinghouseEligibility:
    """Checks coverage with a real-time 270/271 JSON clearinghouse; see the module docstring."""

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        process = context.settings
        self._url = settings.get("url") or process.clearinghouse_url
        self._api_key = settings.get("api_key") or process.clearinghouse_api_key
        self._npi = settings.get("provider_npi") or process.clearinghouse_provider_npi
        self._name = settings.get("provider_name") or process.clearinghouse_provider_name
        if not (self._url and self._api_key and self._npi and self._name):
            raise PermanentError(
                "clearinghouse adapter needs url, api_key, provider_npi and provider_name",
                code="clearinghouse_not_configured",
            )
        self._payer_ids = {
            str(k).casefold(): str(v) for k, v in (settings.get("payer_ids") or {}).items()
        }
        self._timeout = float(settings.get("timeout_seconds", 60))

    async def check(self, request: EligibilityRequest) -> EligibilityResult:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            try:
                response = await client.post(
                    str(self._url),
                    json=self._body(request),
                    headers={"Authorization": str(self._api_key)},
                )
            except httpx.TransportError as exc:
                raise transport_error(exc, SYSTEM) from None
        payload = _json(response) if response.status_code in (200, 400) else {}
        plan_status = payload.get("planStatus") or []
        if payload.get("errors") and not plan_status:
            _raise_for_aaa(payload["errors"])
        raise_for_status(response, SYSTEM)
        return _result(request, payload, plan_status)

    def _body(self, request: EligibilityRequest) -> dict[str, Any]:
        try:
            birth = date.fromisoformat(request.date_of_birth).strftime("%Y%m%d")
        except ValueError:
            raise PermanentError(
                "eligibility request has an unreadable date of birth", code="bad_request"
            ) from None
        return {
            "controlNumber": control_number(request.request_key),
            "tradingPartnerServiceId": self._payer_ids.get(request.payer.casefold(), request.payer),
            "provider": {"organizationName": self._name, "npi": self._npi},
            "subscriber": {
                "memberId": request.member_id,
                "firstName": request.first_name,
                "lastName": request.last_name,
                "dateOfBirth": birth,
            },
            "encounter": {"serviceTypeCodes": [request.service_type]},
        }


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _raise_for_aaa(errors: list[dict[str, Any]]) -> None:
    codes = [str(e.get("code", "")) for e in errors if isinstance(e, dict)] or ["unknown"]
    if found := [code for code in codes if code in NOT_FOUND_AAA]:
        raise NotFoundError(
            f"payer does not know the member (AAA {found[0]})", code=f"aaa_{found[0]}"
        )
    if busy := [code for code in codes if code in TRANSIENT_AAA]:
        raise TransientError(f"payer cannot answer now (AAA {busy[0]})", code=f"aaa_{busy[0]}")
    raise PermanentError(f"payer rejected the check (AAA {codes[0]})", code=f"aaa_{codes[0]}")


def _result(
    request: EligibilityRequest, payload: dict[str, Any], plan_status: list[dict[str, Any]]
) -> EligibilityResult:
    # A payer may answer only for general plan coverage (30) when asked about dental (35).
    matched_type = request.service_type
    entries = [e for e in plan_status if matched_type in (e.get("serviceTypeCodes") or [])]
    if not entries:
        matched_type = HEALTH_BENEFIT_PLAN
        entries = [e for e in plan_status if matched_type in (e.get("serviceTypeCodes") or [])]
    if not entries:
        matched_type, entries = "", plan_status
    codes = {str(entry.get("statusCode")) for entry in entries}
    status: CoverageStatus = (
        "active" if codes & ACTIVE_CODES else "inactive" if codes & INACTIVE_CODES else "unknown"
    )
    information = payload.get("planInformation") or {}
    plan_name = (
        information.get("planDescription")
        or next((e["planDetails"] for e in entries if e.get("planDetails")), None)
        or information.get("groupDescription")
    )
    details = {
        "status_codes": sorted(codes),
        "service_type": matched_type or None,
        "plan_dates": dict(payload.get("planDateInformation") or {}),
        "control_number": payload.get("controlNumber"),
    }
    return EligibilityResult(
        status=status, payer=request.payer, plan_name=plan_name, details=details
    )
