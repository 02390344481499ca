"""Which Claude failures are worth one retry within the turn, and how long the API asks to wait.

Retry: 429 ``rate_limit_error``, 529 ``overloaded_error``, other 5xx, an ``error`` event in the
stream of those kinds, connection failures and our own first-token timeout. Anything else
(401 bad key, 400 bad request) will not pass by retrying: it goes straight to the fallback.
"""

from __future__ import annotations

import anthropic

RETRYABLE_TYPES = {"rate_limit_error", "overloaded_error", "api_error"}
DEFAULT_BACKOFF_S = 0.2


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, TimeoutError | anthropic.APIConnectionError):
        return True
    if isinstance(exc, anthropic.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500 or exc.type in RETRYABLE_TYPES
    return False


def retry_after_s(exc: BaseException) -> float:
    """The server's ``retry-after-ms`` or ``retry-after`` if given, else a short backoff."""
    if isinstance(exc, anthropic.APIStatusError):
        headers = exc.response.headers
        for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
            try:
                return max(0.0, float(headers[name]) * scale)
            except (KeyError, ValueError):
                continue
    return DEFAULT_BACKOFF_S


def failure_kind(exc: BaseException) -> str:
    """A short PHI-free name for logs and the call record ("rate_limit", "overloaded", ...)."""
    if isinstance(exc, TimeoutError | anthropic.APITimeoutError):
        return "timeout"
    if isinstance(exc, anthropic.APIConnectionError):
        return "connection"
    if isinstance(exc, anthropic.APIStatusError):
        if exc.type:
            return str(exc.type).removesuffix("_error")
        return f"http_{exc.status_code}"
    return type(exc).__name__


class ClaudeUnavailable(RuntimeError):
    """Claude could not answer this turn (after the retry the budget allowed)."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"claude unavailable: {kind}")
        self.kind = kind
