"""The eligibility protocol: is the caller's insurance active for this kind of care?

X12 270/271 semantics: service type 30 (health benefit plan coverage) for medical practices,
35 (dental care) for dental practices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

CoverageStatus = Literal["active", "inactive", "unknown"]
SERVICE_TYPE = {"dental": "35", "medical": "30"}


@dataclass(frozen=True)
class EligibilityRequest:
    clinic_id: str
    payer: str
    member_id: str
    first_name: str
    last_name: str
    date_of_birth: str  # ISO date
    service_type: str = "35"
    request_key: str = ""


@dataclass(frozen=True)
class EligibilityResult:
    status: CoverageStatus
    payer: str
    plan_name: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class EligibilityChecker(Protocol):
    """Raise ``NotFoundError`` when the payer does not know the member, ``PermanentError`` for
    a malformed request, and ``TransientError`` when the payer cannot answer now."""

    async def check(self, request: EligibilityRequest) -> EligibilityResult: ...
