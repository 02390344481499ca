"""Call lifecycle events for the wrap-up workflow, and in-call insurance checks."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from durable import ids
from workflows import queues
from workflows.contracts import (
    CallStatusUpdate,
    EligibilityInput,
    EligibilityOutcome,
    SessionReport,
    WrapUpInput,
)
from workflows.eligibility import EligibilityWorkflow
from workflows.wrapup import CallWrapUpWorkflow

log = logging.getLogger(__name__)


class CallEvents:
    def __init__(self, client: Client, *, task_queue_prefix: str = "") -> None:
        self._client = client
        self._side_effects = queues.named(task_queue_prefix, queues.SIDE_EFFECTS)

    async def _signal_with_start(self, call: WrapUpInput, signal: str, payload: Any) -> str:
        workflow_id = ids.call(call.call_sid)
        try:
            await self._client.start_workflow(
                CallWrapUpWorkflow.run,
                call,
                id=workflow_id,
                task_queue=self._side_effects,
                start_signal=signal,
                start_signal_args=[payload],
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            # Wrap-up already finished: a late duplicate event has nothing left to add.
            log.info("wrap-up already done", extra={"workflow_id": workflow_id, "signal": signal})
        return workflow_id

    async def session_ended(self, call: WrapUpInput, report: SessionReport) -> str:
        return await self._signal_with_start(call, "session_ended", report)

    async def call_status(self, call: WrapUpInput, update: CallStatusUpdate) -> str:
        return await self._signal_with_start(call, "call_status", update)

    async def verify_insurance(
        self, request: EligibilityInput, *, answer_within: timedelta = timedelta(seconds=2)
    ) -> EligibilityOutcome | None:
        """The coverage answer if it comes within ``answer_within``; None means "staff will
        confirm" — the workflow goes on and records the final answer."""
        handle = await self._client.start_workflow(
            EligibilityWorkflow.run,
            request,
            id=ids.eligibility(request.clinic_id, request.request_id),
            task_queue=self._side_effects,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
        try:
            return await asyncio.wait_for(handle.result(), answer_within.total_seconds())
        except TimeoutError:
            return None
