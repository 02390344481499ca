"""Timeouts and retry policies, in one place so every activity call has them.

Nothing a caller waits on may retry forever: in-call steps have a short schedule-to-close
budget; background steps retry with capped backoff and then fall to compensation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError


@dataclass(frozen=True)
class Step:
    start_to_close: timedelta
    schedule_to_close: timedelta
    retry: RetryPolicy


# In-call: the caller is listening. A few quick attempts, then a clear answer.
IN_CALL = Step(
    start_to_close=timedelta(seconds=5),
    schedule_to_close=timedelta(seconds=15),
    retry=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=3),
)
# External systems (EHR, clearinghouse, CRM): ride out an outage of several minutes.
EXTERNAL = Step(
    start_to_close=timedelta(seconds=30),
    schedule_to_close=timedelta(minutes=15),
    retry=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=2),
        maximum_attempts=10,
    ),
)
# Our own database and messaging outbox: short, but must eventually succeed (compensations).
LOCAL = Step(
    start_to_close=timedelta(seconds=15),
    schedule_to_close=timedelta(hours=1),
    retry=RetryPolicy(
        initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=30)
    ),
)

# Best-effort steps before telling the patient (refreshing the schedule, finding other times):
# two quick attempts, then carry on without them rather than keep the patient waiting.
BEST_EFFORT = Step(
    start_to_close=timedelta(minutes=1),
    schedule_to_close=timedelta(minutes=2),
    retry=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=2),
)


def failure_type(err: BaseException) -> str:
    """The ``ApplicationError.type`` behind an activity failure ("timeout" when it ran out).

    Takes the ``ActivityError`` of a regular activity or the bare failure of a local one.
    """
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.type or "application_error"
    return "timeout" if cause is not None and "Timeout" in type(cause).__name__ else "error"
