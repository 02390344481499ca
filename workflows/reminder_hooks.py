"""How the booking and cancellation sagas keep appointment reminders in step.

Called behind ``workflow.patched("reminders-v1")`` so histories recorded before reminders
existed still replay.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.reminders import ReminderActivities, ReminderChange
    from workflows import policies


async def update_reminders(change: ReminderChange, task_queue: str) -> None:
    """Arm, move or stop the appointment's reminders. A failure never undoes the booking or
    the cancellation, so it is logged, not raised."""
    try:
        await workflow.execute_activity_method(
            ReminderActivities.update_reminders,
            change,
            task_queue=task_queue,
            start_to_close_timeout=policies.LOCAL.start_to_close,
            schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
            retry_policy=policies.LOCAL.retry,
        )
    except ActivityError as err:
        workflow.logger.warning(
            "reminders not updated", extra={"reason": policies.failure_type(err)}
        )
