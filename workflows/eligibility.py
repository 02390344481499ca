"""Insurance eligibility during a call: a bounded answer for the caller, the full result kept.

The voice loop waits about two seconds for the result; if the payer is slow it tells the caller
staff will confirm, while this workflow keeps trying and records the final answer. An answer
that stays unverified opens a staff task.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.eligibility import EligibilityActivities, RecordEligibilityInput
    from activities.staff import StaffActivities, StaffTaskInput
    from workflows import policies, queues
    from workflows.contracts import EligibilityInput, EligibilityOutcome

CHECK_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500),
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=6,
)


@workflow.defn
class EligibilityWorkflow:
    @workflow.run
    async def run(self, request: EligibilityInput) -> EligibilityOutcome:
        side_effects = queues.sibling(workflow.info().task_queue, queues.SIDE_EFFECTS)
        try:
            outcome = await workflow.execute_activity_method(
                EligibilityActivities.check_eligibility,
                request,
                task_queue=side_effects,
                start_to_close_timeout=timedelta(seconds=10),
                schedule_to_close_timeout=timedelta(minutes=2),
                retry_policy=CHECK_RETRY,
            )
        except ActivityError as err:
            outcome = EligibilityOutcome(
                "unverified", request.payer, reason=policies.failure_type(err)
            )
        await workflow.execute_activity_method(
            EligibilityActivities.record_eligibility,
            RecordEligibilityInput(request, outcome),
            task_queue=side_effects,
            start_to_close_timeout=policies.LOCAL.start_to_close,
            schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
            retry_policy=policies.LOCAL.retry,
        )
        if outcome.status == "unverified":
            await workflow.execute_activity_method(
                StaffActivities.open_staff_task,
                StaffTaskInput(
                    clinic_id=request.clinic_id,
                    kind="verify_insurance",
                    title=f"Verify insurance with {outcome.payer} ({outcome.reason})",
                    detail=f"Eligibility workflow {workflow.info().workflow_id}.",
                ),
                task_queue=side_effects,
                start_to_close_timeout=policies.LOCAL.start_to_close,
                schedule_to_close_timeout=policies.LOCAL.schedule_to_close,
                retry_policy=policies.LOCAL.retry,
            )
        return outcome
