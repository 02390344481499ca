"""Insurance eligibility: ask the clinic's eligibility adapter, record what it said."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from temporalio import activity

from activities.adapters import ClinicAdapters
from activities.errors import classified
from activities.keys import workflow_key
from core.models import ACTIVE_APPOINTMENT_STATUSES, Appointment, Clinic, EligibilityCheck
from core.scheduling import NotFound
from integrations.eligibility.protocol import SERVICE_TYPE, EligibilityRequest
from integrations.errors import NotFoundError
from workflows.contracts import EligibilityInput, EligibilityOutcome


@dataclass(frozen=True)
class RecordEligibilityInput:
    request: EligibilityInput
    outcome: EligibilityOutcome


class EligibilityActivities:
    def __init__(self, adapters: ClinicAdapters) -> None:
        self._adapters = adapters
        self._db = adapters.db

    @activity.defn(name="check_eligibility")
    @classified
    async def check_eligibility(self, request: EligibilityInput) -> EligibilityOutcome:
        async with self._db.read() as session:
            clinic = await session.get(Clinic, request.clinic_id)
        if clinic is None:
            raise NotFound("unknown clinic")
        checker = await self._adapters.eligibility(clinic.id)
        try:
            result = await checker.check(
                EligibilityRequest(
                    clinic_id=clinic.id,
                    payer=request.payer,
                    member_id=request.member_id,
                    first_name=request.first_name,
                    last_name=request.last_name,
                    date_of_birth=request.date_of_birth,
                    service_type=SERVICE_TYPE.get(clinic.specialty, "30"),
                    request_key=workflow_key(),
                )
            )
        except NotFoundError as exc:
            return EligibilityOutcome("unverified", request.payer, reason=exc.code)
        if result.status == "unknown":
            return EligibilityOutcome("unverified", result.payer, result.plan_name, "payer_unsure")
        return EligibilityOutcome(result.status, result.payer, result.plan_name)

    @activity.defn(name="record_eligibility")
    @classified
    async def record_eligibility(self, record: RecordEligibilityInput) -> None:
        """Store the result and put it on the patient's upcoming appointments that lack one."""
        key = workflow_key()
        request, outcome = record.request, record.outcome
        summary = {"status": outcome.status, "payer": outcome.payer, "plan_name": outcome.plan_name}
        try:
            async with self._db.write() as session:
                if (
                    await session.exec(
                        select(EligibilityCheck.id).where(EligibilityCheck.request_key == key)
                    )
                ).first() is None:
                    session.add(
                        EligibilityCheck(
                            clinic_id=request.clinic_id,
                            patient_id=request.patient_id,
                            request_key=key,
                            payer=outcome.payer,
                            status=outcome.status,
                            plan_name=outcome.plan_name,
                            details={"reason": outcome.reason} if outcome.reason else {},
                        )
                    )
                if request.patient_id:
                    upcoming = await session.exec(
                        select(Appointment).where(
                            Appointment.patient_id == request.patient_id,
                            col(Appointment.status).in_(ACTIVE_APPOINTMENT_STATUSES),
                        )
                    )
                    for appointment in upcoming.all():
                        if appointment.eligibility is None:
                            appointment.eligibility = summary
                            session.add(appointment)
        except IntegrityError:  # a retry raced with itself; the first write stands
            return
