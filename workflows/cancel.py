"""Cancellation: accepted at once for the caller, then cancelled in the EHR before the local
time is freed, then confirmed to the patient."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.booking import BookingActivities
    from activities.messaging import MessagingActivities, NotifyInput
    from activities.reminders import ReminderChange
    from activities.staff import StaffActivities, StaffTaskInput
    from workflows import policies, queues
    from workflows.contracts import CancelAccepted, CancelInput, CancelOutcome
    from workflows.early_answer import EarlyAnswer
    from workflows.reminder_hooks import update_reminders


@workflow.defn
class CancelWorkflow:
    def __init__(self) -> None:
        self._answer = EarlyAnswer[CancelAccepted]()

    @workflow.update
    async def accepted(self) -> CancelAccepted:
        return await self._answer.wait()

    @workflow.run
    async def run(self, request: CancelInput) -> CancelOutcome:
        side_effects = queues.sibling(workflow.info().task_queue, queues.SIDE_EFFECTS)
        if (
            await self._answer.settle(
                BookingActivities.accept_cancellation, request, "cancellation refused"
            )
            is None
        ):
            await self._answer.finish()
            return CancelOutcome(status="rejected", reason=self._answer.reason)
        # The caller was told it is cancelled: ride out EHR outages for up to an hour, and hand
        # a refusal to staff rather than leave the patient believing something untrue.
        try:
            await workflow.execute_activity_method(
                BookingActivities.commit_cancellation,
                request,
                task_queue=side_effects,
                start_to_close_timeout=policies.EXTERNAL.start_to_close,
                schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
                retry_policy=policies.LOCAL.retry,
            )
        except ActivityError as err:
            reason = policies.failure_type(err)
            await workflow.execute_activity_method(
                StaffActivities.open_staff_task,
                StaffTaskInput(
                    clinic_id=request.clinic_id,
                    kind="cancel_failed",
                    title=f"Cancellation failed in the EHR ({reason}): cancel it by hand",
                    detail=f"Workflow {workflow.info().workflow_id}.",
                    appointment_id=request.appointment_id,
                ),
                task_queue=side_effects,
                start_to_close_timeout=policies.LOCAL.start_to_close,
                schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
                retry_policy=policies.LOCAL.retry,
            )
            await self._answer.finish()
            return CancelOutcome(status="failed", reason=reason)
        if workflow.patched("reminders-v1"):
            await update_reminders(
                ReminderChange(request.appointment_id, "cancelled"), side_effects
            )
        await workflow.execute_activity_method(
            MessagingActivities.notify_patient,
            NotifyInput(request.appointment_id, "cancelled"),
            task_queue=side_effects,
            start_to_close_timeout=policies.EXTERNAL.start_to_close,
            schedule_to_close_timeout=policies.EXTERNAL.schedule_to_close,
            retry_policy=policies.EXTERNAL.retry,
        )
        await self._answer.finish()
        return CancelOutcome(status="cancelled")
