"""How adapters report failure, so activities can decide between retrying and giving up.

Adapters raise ``PermanentError`` for anything a retry cannot fix (validation, not found, the
slot was taken, a refused credential) and ``TransientError`` for what may pass (timeouts, 429,
5xx), optionally with the delay the remote side asked for. Anything else is treated as transient.
"""

from __future__ import annotations

from datetime import timedelta


class IntegrationError(Exception):
    """Base for adapter failures. ``code`` is a stable, PHI-free machine name."""

    code = "integration_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code


class PermanentError(IntegrationError):
    code = "permanent"


class SlotConflict(PermanentError):
    """The external system already gave that time away."""

    code = "slot_taken"


class NotFoundError(PermanentError):
    code = "not_found"


class TransientError(IntegrationError):
    code = "transient"

    def __init__(
        self, message: str, *, code: str | None = None, retry_after: timedelta | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after
