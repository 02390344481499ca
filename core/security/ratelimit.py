"""Per-client request limits (token buckets in memory), for webhooks and login.

Each limiter holds one bucket per client address: ``per_minute`` requests refill evenly over a
minute and up to ``burst`` may arrive at once. Buckets of quiet clients are dropped, so memory
stays bounded by the number of clients active in the last minute. Limits are per process: behind
several API replicas the effective limit is the sum (the edge proxy should limit too).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, WebSocketException, status
from starlette.requests import HTTPConnection


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``allow(key)`` answers how long to wait (0 when the request may proceed)."""

    def __init__(
        self,
        per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0
        self.capacity = float(burst if burst is not None else max(1, per_minute // 6))
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._last_sweep = clock()

    def retry_after(self, key: str) -> float:
        """Take a token for ``key``: 0.0 if allowed, else seconds until one is available."""
        now = self._clock()
        self._sweep(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _sweep(self, now: float) -> None:
        # A bucket idle long enough to have refilled is indistinguishable from a new one.
        full_after = self.capacity / self.rate
        if now - self._last_sweep < full_after:
            return
        self._last_sweep = now
        for key in [k for k, b in self._buckets.items() if now - b.updated >= full_after]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def client_address(connection: HTTPConnection) -> str:
    """The peer address (behind a proxy, run uvicorn with --proxy-headers so this is the
    client's, not the proxy's)."""
    return connection.client.host if connection.client else "unknown"


def limit_by_address(limiter: RateLimiter) -> Callable[[HTTPConnection], None]:
    """A FastAPI dependency refusing a client over its limit: HTTP 429 with ``Retry-After``, or
    a WebSocket closed with policy violation (1008) before it is accepted."""

    def dependency(connection: HTTPConnection) -> None:
        wait = limiter.retry_after(client_address(connection))
        if wait <= 0:
            return
        if connection.scope["type"] == "websocket":
            raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "too many requests")
        raise HTTPException(
            status_code=429,
            detail="too many requests",
            headers={"Retry-After": str(math.ceil(wait))},
        )

    return dependency
