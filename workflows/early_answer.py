"""The early-return pattern: an update answers the caller while ``run`` carries on.

``run`` settles the answer (accept or reject); the ``accepted`` update waits for it. A rejected
request ends the workflow, so ``run`` must not return before the waiting update has delivered
the rejection — otherwise the caller gets "workflow completed" instead of the reason. Without
the cache, a replayed update handler can start after ``run`` has already decided, so
``all_handlers_finished`` alone is not enough: ``finish`` also waits for the update to have
been asked at all, for a bounded time (a workflow started by the fallback path, without an
update, is never asked).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic, TypeVar

from temporalio import workflow
from temporalio.exceptions import ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from workflows import policies

T = TypeVar("T")
ASK_GRACE = timedelta(seconds=10)


class EarlyAnswer(Generic[T]):
    def __init__(self) -> None:
        self._value: T | None = None
        self._error: ApplicationError | None = None
        self._asked = False
        self.reason: str | None = None

    async def settle(self, step: Callable[..., Any], request: Any, refusal: str) -> T | None:
        """Run the in-call acceptance step as a local activity and settle the answer with its
        result; None (and ``reason`` set) when it refused."""
        try:
            value: T = await workflow.execute_local_activity_method(
                step,
                request,
                start_to_close_timeout=policies.IN_CALL.start_to_close,
                schedule_to_close_timeout=policies.IN_CALL.schedule_to_close,
                retry_policy=policies.IN_CALL.retry,
            )
        except FailureError as err:  # local activities fail without an ActivityError wrapper
            self.reason = policies.failure_type(err)
            self.reject(self.reason, f"{refusal}: {self.reason}")
            return None
        return self.accept(value)

    def accept(self, value: T) -> T:
        self._value = value
        return value

    def reject(self, reason: str, message: str) -> None:
        self._error = ApplicationError(message, type=reason, non_retryable=True)

    async def wait(self) -> T:
        """Called from the update handler."""
        self._asked = True
        await workflow.wait_condition(lambda: self._value is not None or self._error is not None)
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value

    async def finish(self) -> None:
        """Called by ``run`` before it returns."""
        try:
            await workflow.wait_condition(
                lambda: self._asked and workflow.all_handlers_finished(), timeout=ASK_GRACE
            )
        except TimeoutError:
            await workflow.wait_condition(workflow.all_handlers_finished)
