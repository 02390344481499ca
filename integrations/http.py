"""Classifying HTTP answers from external systems into permanent and transient failures."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import httpx

from integrations.errors import NotFoundError, PermanentError, SlotConflict, TransientError

RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


def retry_after(response: httpx.Response, *, now: datetime | None = None) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return timedelta(seconds=int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(timedelta(0), when - (now or datetime.now(UTC)))


def raise_for_status(response: httpx.Response, system: str) -> None:
    """Raise the right ``IntegrationError`` for a failed response; return on success.

    Messages name the system and status only: response bodies may echo patient data.
    """
    status = response.status_code
    if status < 400:
        return
    message = f"{system} answered HTTP {status}"
    if status in RETRYABLE_STATUS:
        raise TransientError(message, code=f"http_{status}", retry_after=retry_after(response))
    if status == 404:
        raise NotFoundError(message, code="not_found")
    if status in (409, 412):
        raise SlotConflict(message, code="slot_taken")
    raise PermanentError(message, code=f"http_{status}")


def transport_error(exc: httpx.TransportError, system: str) -> TransientError:
    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
    return TransientError(f"{system} {kind} error: {type(exc).__name__}", code=kind)
