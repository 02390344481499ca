"""FHIR error answers (HTTP status + OperationOutcome) as the project's integration errors.

The HTTP status decides first (``integrations.http``: 5xx/429/408 retry, 404 not found,
409/412 conflict); the OperationOutcome's issue codes (hl7.org/fhir/R4/valueset-issue-type)
refine a 4xx: ``conflict`` -> ``SlotConflict``; ``transient``/``throttled``/``timeout``/
``lock-error``/``no-store`` -> ``TransientError``; ``not-found``/``deleted`` -> ``NotFoundError``;
anything else -> ``PermanentError``. Messages carry the status and issue codes only, never the
diagnostics text, which servers fill with whatever was sent (patient data included).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from integrations.errors import (
    IntegrationError,
    NotFoundError,
    PermanentError,
    SlotConflict,
    TransientError,
)
from integrations.http import RETRYABLE_STATUS, retry_after

SYSTEM = "FHIR server"
TRANSIENT_ISSUES = {"transient", "throttled", "timeout", "lock-error", "no-store", "incomplete"}
NOT_FOUND_ISSUES = {"not-found", "deleted"}
CONFLICT_ISSUES = {"conflict"}


def issue_codes(body: Any) -> list[str]:
    """The ``issue[].code`` values of an OperationOutcome body (empty for anything else)."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return []
    issues = body.get("issue")
    if not isinstance(issues, list):
        return []
    return [
        str(i["code"]) for i in issues if isinstance(i, dict) and isinstance(i.get("code"), str)
    ]


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_for(status: int, body: Any, *, wait: timedelta | None = None) -> IntegrationError | None:
    """The error an answer with ``status`` and ``body`` stands for; None on success."""
    if status < 400:
        return None
    codes = issue_codes(body)
    primary = codes[0] if codes else None
    message = f"{SYSTEM} answered HTTP {status}" + (f" ({', '.join(codes)})" if codes else "")
    if status in RETRYABLE_STATUS:
        return TransientError(message, code=f"http_{status}", retry_after=wait)
    if primary in TRANSIENT_ISSUES:
        return TransientError(message, code=f"fhir_{primary}", retry_after=wait)
    if status in (409, 412) or primary in CONFLICT_ISSUES:
        return SlotConflict(message, code="slot_taken")
    if status == 404 or primary in NOT_FOUND_ISSUES:
        return NotFoundError(message, code="not_found")
    return PermanentError(message, code=f"fhir_{primary}" if primary else f"http_{status}")


def classify(response: httpx.Response) -> IntegrationError | None:
    """The error a FHIR HTTP answer stands for; None on success."""
    if response.status_code < 400:
        return None
    return error_for(response.status_code, _body(response), wait=retry_after(response))


def entry_error(status: str, outcome: Any) -> IntegrationError:
    """A failed entry of a batch response (``entry.response.status`` like ``"412 ..."``)."""
    code = int(status[:3]) if status[:3].isdigit() else 500
    return error_for(max(code, 400), outcome) or PermanentError(f"{SYSTEM} entry failed")
