"""Update-with-Start with a bounded wait: the shape of every in-call durable request."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import UpdateMethodMultiParam

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Answer(Generic[T]):
    """``accepted`` with the update's result; ``rejected`` with the workflow's reason;
    ``pending`` when the request is durable but no answer came in time; ``done`` when the
    workflow had already finished (a duplicate request) — read its result instead."""

    status: Literal["accepted", "rejected", "pending", "done"]
    workflow_id: str
    result: T | None = None
    reason: str | None = None


def accept_update_id(workflow_id: str) -> str:
    """One id per request: a repeated update is answered from the first one's result."""
    return f"{workflow_id}/accept"


async def update_with_start(
    client: Client,
    update: UpdateMethodMultiParam[[Any], T],
    run: Callable[[Any, Any], Awaitable[Any]],
    arg: Any,
    *,
    workflow_id: str,
    task_queue: str,
    answer_within: timedelta,
) -> Answer[T]:
    def operation() -> WithStartWorkflowOperation[Any, Any]:
        return WithStartWorkflowOperation(
            run,
            arg,
            id=workflow_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            # A finished request is never redone: its id is its idempotency key.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )

    try:
        result = await asyncio.wait_for(
            client.execute_update_with_start_workflow(
                update, start_workflow_operation=operation(), id=accept_update_id(workflow_id)
            ),
            answer_within.total_seconds(),
        )
        return Answer("accepted", workflow_id, result)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = cause.type if isinstance(cause, ApplicationError) and cause.type else "rejected"
        return Answer("rejected", workflow_id, reason=reason)
    except WorkflowAlreadyStartedError:
        return Answer("done", workflow_id)
    except TimeoutError:
        # The request may or may not have reached the server: make sure it is durable.
        try:
            await client.start_workflow(
                run,
                arg,
                id=workflow_id,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return Answer("done", workflow_id)
        log.warning("no answer in time; request is durable", extra={"workflow_id": workflow_id})
        return Answer("pending", workflow_id)
