"""The embedded eligibility source: the clinic's own table of known coverage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import select

from core.models import InsuranceCoverage
from core.security.crypto import blind_index
from integrations.eligibility.protocol import EligibilityRequest, EligibilityResult
from integrations.errors import NotFoundError
from integrations.registry import AdapterContext


class LocalEligibility:
    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        self._db = context.db

    async def check(self, request: EligibilityRequest) -> EligibilityResult:
        async with self._db.read() as session:
            coverage = (
                await session.exec(
                    select(InsuranceCoverage).where(
                        InsuranceCoverage.clinic_id == request.clinic_id,
                        func.lower(InsuranceCoverage.payer) == request.payer.strip().lower(),
                        InsuranceCoverage.member_index
                        == blind_index("member_id", request.member_id),
                    )
                )
            ).first()
        if coverage is None:
            raise NotFoundError("the payer does not know this member", code="member_not_found")
        return EligibilityResult(
            status="active" if coverage.status == "active" else "inactive",
            payer=coverage.payer,
            plan_name=coverage.plan_name or None,
            details={"source": "local", "service_type": request.service_type},
        )
