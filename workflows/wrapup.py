"""Call wrap-up, one per call (``call-{call_sid}``).

Both the voice loop (``session_ended``, with the transcript) and Twilio's status webhook
(``call_status``) signal-with-start it, in either order and possibly twice; the workflow id
makes that one wrap-up. It waits briefly for the voice loop's report (a call that never reached
the media stream has none), then persists, summarises, notes the CRM and opens follow-ups.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.staff import StaffActivities, StaffTaskInput
    from activities.wrapup import PersistCallInput, WrapUpActivities
    from workflows import policies
    from workflows.contracts import CallStatusUpdate, SessionReport, WrapUpInput, WrapUpOutcome

FOLLOW_UP = {
    "transferred": ("transfer", "Caller transferred to staff"),
    "emergency": ("emergency_follow_up", "Emergency call: check on the patient"),
    "failed": ("call_failed", "The receptionist could not help a caller: call back"),
}


@workflow.defn
class CallWrapUpWorkflow:
    def __init__(self) -> None:
        self._report: SessionReport | None = None
        self._status: CallStatusUpdate | None = None

    @workflow.signal
    def session_ended(self, report: SessionReport) -> None:
        self._report = self._report or report

    @workflow.signal
    def call_status(self, update: CallStatusUpdate) -> None:
        self._status = self._status or update

    @workflow.run
    async def run(self, call: WrapUpInput) -> WrapUpOutcome:
        await workflow.wait_condition(lambda: self._report is not None or self._status is not None)
        if self._report is None:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._report is not None,
                    timeout=timedelta(seconds=call.report_grace_seconds),
                )
        step = policies.LOCAL
        call_id = await workflow.execute_activity_method(
            WrapUpActivities.persist_call,
            PersistCallInput(call, self._report, self._status),
            start_to_close_timeout=step.start_to_close,
            schedule_to_close_timeout=step.schedule_to_close,
            retry_policy=step.retry,
        )
        summary = await workflow.execute_activity_method(
            WrapUpActivities.summarize_call,
            call_id,
            start_to_close_timeout=step.start_to_close,
            schedule_to_close_timeout=step.schedule_to_close,
            retry_policy=step.retry,
        )
        tasks: list[StaffTaskInput] = []
        crm_note_id: str | None = None
        try:
            crm_note_id = await workflow.execute_activity_method(
                WrapUpActivities.write_crm_note,
                call_id,
                start_to_close_timeout=policies.EXTERNAL.start_to_close,
                schedule_to_close_timeout=policies.EXTERNAL.schedule_to_close,
                retry_policy=policies.EXTERNAL.retry,
            )
        except ActivityError as err:
            tasks.append(
                StaffTaskInput(
                    call.clinic_id,
                    "crm_note_failed",
                    f"CRM note not written ({policies.failure_type(err)}): copy the call summary",
                    call_id=call_id,
                )
            )
        outcome = self._report.outcome if self._report else None
        if outcome in FOLLOW_UP:
            kind, title = FOLLOW_UP[outcome]
            reason = self._report.transfer_reason if self._report else None
            tasks.append(
                StaffTaskInput(
                    call.clinic_id,
                    kind,
                    f"{title}{f' ({reason})' if reason else ''}",
                    detail=summary,
                    call_id=call_id,
                )
            )
        for task in tasks:
            await workflow.execute_activity_method(
                StaffActivities.open_staff_task,
                task,
                start_to_close_timeout=step.start_to_close,
                schedule_to_close_timeout=step.schedule_to_close,
                retry_policy=step.retry,
            )
        return WrapUpOutcome(
            call_id=call_id, summary=summary, crm_note_id=crm_note_id, staff_tasks=len(tasks)
        )
