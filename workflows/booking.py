"""The booking saga, for new bookings and reschedules.

Started by the in-call tool with Update-with-Start: the ``accepted`` update returns as soon as
the hold has become a pending appointment, so the caller hears "you're booked" within the turn;
``run`` goes on to write the EHR, read it back and confirm by SMS. On a permanent EHR failure it
compensates: the time goes back to the schedule, the patient is told staff will call, and a
staff task is opened; when the EHR had given the time away, both also carry the nearest open
times (schedule refreshed from the EHR first). A reschedule releases the old time only once
the new one is committed.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.booking import (
        Alternative,
        AlternativesInput,
        BookingActivities,
        CommitInput,
        FailInput,
    )
    from activities.ehr_sync import EhrSyncActivities, SyncInput
    from activities.messaging import MessagingActivities, NotifyInput
    from activities.reminders import ReminderChange
    from activities.staff import StaffActivities, StaffTaskInput
    from integrations.errors import SlotConflict
    from workflows import policies, queues
    from workflows.contracts import BookingAccepted, BookingInput, BookingOutcome
    from workflows.early_answer import EarlyAnswer
    from workflows.reminder_hooks import update_reminders


@workflow.defn
class BookingWorkflow:
    def __init__(self) -> None:
        self._answer = EarlyAnswer[BookingAccepted]()

    @workflow.update
    async def accepted(self) -> BookingAccepted:
        """The caller's answer: the pending appointment, or why it could not be taken."""
        return await self._answer.wait()

    @workflow.run
    async def run(self, request: BookingInput) -> BookingOutcome:
        side_effects = queues.sibling(workflow.info().task_queue, queues.SIDE_EFFECTS)
        accepted = await self._answer.settle(
            BookingActivities.accept_booking, request, "booking not accepted"
        )
        if accepted is None:
            await self._answer.finish()
            return BookingOutcome(status="rejected", reason=self._answer.reason)
        try:
            commit = await workflow.execute_activity_method(
                BookingActivities.commit_to_ehr,
                CommitInput(accepted.appointment_id, request.reschedule_of),
                task_queue=side_effects,
                start_to_close_timeout=policies.EXTERNAL.start_to_close,
                schedule_to_close_timeout=policies.EXTERNAL.schedule_to_close,
                retry_policy=policies.EXTERNAL.retry,
            )
        except ActivityError as err:
            reason = policies.failure_type(err)
            await self._compensate(request, accepted, reason, side_effects)
            await self._answer.finish()
            return BookingOutcome(status="failed", accepted=accepted, reason=reason)

        await self._notify(
            NotifyInput(
                accepted.appointment_id,
                "rescheduled" if request.reschedule_of else "confirmation",
                previous_appointment_id=request.reschedule_of,
            ),
            side_effects,
        )
        if workflow.patched("reminders-v1"):
            await update_reminders(
                ReminderChange(
                    accepted.appointment_id, "rescheduled" if request.reschedule_of else "booked"
                ),
                side_effects,
            )
        await self._answer.finish()
        return BookingOutcome(status="booked", accepted=accepted, external_id=commit.external_id)

    async def _notify(self, notice: NotifyInput, task_queue: str) -> None:
        await workflow.execute_activity_method(
            MessagingActivities.notify_patient,
            notice,
            task_queue=task_queue,
            start_to_close_timeout=policies.EXTERNAL.start_to_close,
            schedule_to_close_timeout=policies.EXTERNAL.schedule_to_close,
            retry_policy=policies.EXTERNAL.retry,
        )

    async def _compensate(
        self, request: BookingInput, accepted: BookingAccepted, reason: str, task_queue: str
    ) -> None:
        await workflow.execute_activity_method(
            BookingActivities.fail_booking,
            FailInput(accepted.appointment_id, reason),
            task_queue=task_queue,
            start_to_close_timeout=policies.LOCAL.start_to_close,
            schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
            retry_policy=policies.LOCAL.retry,
        )
        offer: list[Alternative] = []
        if reason == SlotConflict.code and workflow.patched("slot-taken-alternatives-v1"):
            offer = await self._alternatives(request.clinic_id, accepted, task_queue)
        rescheduling = request.reschedule_of is not None
        await self._notify(
            NotifyInput(
                accepted.appointment_id,
                "reschedule_failed" if rescheduling else "booking_failed",
                previous_appointment_id=request.reschedule_of,
                alternatives=tuple(a.phrase for a in offer),
            ),
            task_queue,
        )
        what = "Reschedule" if rescheduling else "Booking"
        # Provider id and exact start let staff rebook an open time in one step.
        open_times = "".join(
            f"\n- {a.phrase} [provider {a.provider_id}, {a.starts_at.isoformat()}]" for a in offer
        )
        await workflow.execute_activity_method(
            StaffActivities.open_staff_task,
            StaffTaskInput(
                clinic_id=request.clinic_id,
                kind="reschedule_failed" if rescheduling else "booking_failed",
                title=f"{what} failed in the EHR ({reason}): call the patient",
                detail=f"Appointment {accepted.appointment_id}"
                + (f"\nOpen times offered to the patient:{open_times}" if offer else ""),
                appointment_id=accepted.appointment_id,
            ),
            task_queue=task_queue,
            start_to_close_timeout=policies.LOCAL.start_to_close,
            schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
            retry_policy=policies.LOCAL.retry,
        )

    async def _alternatives(
        self, clinic_id: str, accepted: BookingAccepted, task_queue: str
    ) -> list[Alternative]:
        """Other times for a time the EHR gave away. The clinic's schedule is pulled from the
        EHR first (the same activity as the periodic sync; it skips EHRs that cannot be
        pulled), so the offer leaves out whatever else the front desk took meanwhile. Both
        steps are best effort: without them the patient still hears that staff will call."""
        try:
            await workflow.execute_activity_method(
                EhrSyncActivities.sync_ehr_schedule,
                SyncInput(clinic_id),
                task_queue=task_queue,
                start_to_close_timeout=policies.BEST_EFFORT.start_to_close,
                schedule_to_close_timeout=policies.BEST_EFFORT.schedule_to_close,
                retry_policy=policies.BEST_EFFORT.retry,
            )
        except ActivityError:
            workflow.logger.warning("schedule refresh failed; offering from the local view")
        try:
            return await workflow.execute_activity_method(
                BookingActivities.find_alternatives,
                AlternativesInput(accepted.appointment_id),
                task_queue=task_queue,
                start_to_close_timeout=policies.BEST_EFFORT.start_to_close,
                schedule_to_close_timeout=policies.BEST_EFFORT.schedule_to_close,
                retry_policy=policies.BEST_EFFORT.retry,
            )
        except ActivityError:
            workflow.logger.warning("no alternatives found: staff will call")
            return []
