"""Turning domain and adapter failures into Temporal's retry decisions.

Permanent failures (validation, not found, slot taken, a refused request) become non-retryable
``ApplicationError``s whose ``type`` the workflow branches on; transient ones are retried with
backoff, honouring a remote ``Retry-After``. Messages carry no PHI (they are stored in history).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

from core.clinic_config import ClinicConfigError
from core.scheduling import SchedulingError
from integrations.errors import PermanentError, TransientError
from integrations.registry import UnknownAdapter

P = ParamSpec("P")
R = TypeVar("R")

# ``ApplicationError.type`` values the workflows branch on.
SLOT_TAKEN = "slot_taken"
HOLD_EXPIRED = "hold_expired"
NOT_FOUND = "not_found"
MISCONFIGURED = "misconfigured"


def classify(exc: Exception) -> Exception:
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, SchedulingError):
        return ApplicationError(str(exc), type=exc.code, non_retryable=True)
    if isinstance(exc, (ClinicConfigError, UnknownAdapter)):
        return ApplicationError(str(exc), type=MISCONFIGURED, non_retryable=True)
    if isinstance(exc, PermanentError):
        return ApplicationError(str(exc), type=exc.code, non_retryable=True)
    if isinstance(exc, TransientError):
        return ApplicationError(str(exc), type=exc.code, next_retry_delay=exc.retry_after)
    return exc


def classified(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Wrap an activity so every failure leaves it already classified."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            converted = classify(exc)
            if converted is exc:
                raise
            raise converted from exc

    return wrapper
