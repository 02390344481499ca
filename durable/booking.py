"""Booking, rescheduling and cancelling from a call: hold in the database, then
Update-with-Start the saga and wait a bounded time for its acceptance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from temporalio.client import Client

from core.db import Database
from core.scheduling import (
    HoldRequest,
    SchedulingError,
    SlotTaken,
    hold_of,
    hold_slot,
    release_hold,
)
from durable import ids
from durable.update_with_start import update_with_start
from workflows import queues
from workflows.booking import BookingWorkflow
from workflows.cancel import CancelWorkflow
from workflows.contracts import (
    BookingAccepted,
    BookingInput,
    BookingOutcome,
    CancelAccepted,
    CancelInput,
    PatientDetails,
)

DEFAULT_ANSWER_WITHIN = timedelta(milliseconds=800)


@dataclass(frozen=True)
class BookingRequest:
    clinic_id: str
    request_id: str  # stable for one tool call: a retry must reuse it
    provider_id: str
    appointment_type: str
    starts_at: datetime
    patient_id: str | None = None
    new_patient: PatientDetails | None = None
    reschedule_of: str | None = None
    call_sid: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class BookingDecision:
    status: Literal["accepted", "pending", "rejected"]
    workflow_id: str
    accepted: BookingAccepted | None = None
    reason: str | None = None


class Bookings:
    def __init__(self, client: Client, db: Database, *, task_queue_prefix: str = "") -> None:
        self._client = client
        self._db = db
        self._interactive = queues.named(task_queue_prefix, queues.INTERACTIVE)

    async def book(
        self, request: BookingRequest, *, answer_within: timedelta = DEFAULT_ANSWER_WITHIN
    ) -> BookingDecision:
        """Hold the slot, start the saga, and say whether the booking was accepted."""
        workflow_id = ids.booking(request.clinic_id, request.request_id)
        try:
            hold = await hold_slot(
                self._db,
                HoldRequest(
                    clinic_id=request.clinic_id,
                    provider_id=request.provider_id,
                    appointment_type=request.appointment_type,
                    starts_at=request.starts_at,
                    holder=workflow_id,
                ),
            )
        except SlotTaken as exc:
            # Taken by this very request (a retried or concurrent tool call)? Then join its saga.
            earlier = await hold_of(self._db, workflow_id)
            if earlier is None:
                return BookingDecision("rejected", workflow_id, reason=exc.code)
            hold = earlier
        except SchedulingError as exc:
            return BookingDecision("rejected", workflow_id, reason=exc.code)
        answer = await update_with_start(
            self._client,
            BookingWorkflow.accepted,
            BookingWorkflow.run,
            BookingInput(
                clinic_id=request.clinic_id,
                request_id=request.request_id,
                hold_id=hold.id,
                patient_id=request.patient_id,
                new_patient=request.new_patient,
                reschedule_of=request.reschedule_of,
                call_sid=request.call_sid,
                notes=request.notes,
            ),
            workflow_id=workflow_id,
            task_queue=self._interactive,
            answer_within=answer_within,
        )
        if answer.status == "accepted":
            return BookingDecision("accepted", workflow_id, answer.result)
        if answer.status == "done":
            return await self._from_outcome(workflow_id)
        if answer.status == "rejected":
            await release_hold(self._db, hold.id)
            return BookingDecision("rejected", workflow_id, reason=answer.reason)
        return BookingDecision("pending", workflow_id)

    async def _from_outcome(self, workflow_id: str) -> BookingDecision:
        outcome: BookingOutcome = await self._client.get_workflow_handle(
            workflow_id, result_type=BookingOutcome
        ).result()
        if outcome.status == "rejected":
            return BookingDecision("rejected", workflow_id, reason=outcome.reason)
        return BookingDecision("accepted", workflow_id, outcome.accepted)

    async def cancel(
        self, request: CancelInput, *, answer_within: timedelta = DEFAULT_ANSWER_WITHIN
    ) -> tuple[Literal["accepted", "pending", "rejected", "done"], CancelAccepted | None, str]:
        workflow_id = ids.cancellation(request.clinic_id, request.appointment_id)
        answer = await update_with_start(
            self._client,
            CancelWorkflow.accepted,
            CancelWorkflow.run,
            request,
            workflow_id=workflow_id,
            task_queue=self._interactive,
            answer_within=answer_within,
        )
        return answer.status, answer.result, answer.reason or ""
