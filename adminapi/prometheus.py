"""Prometheus ``/metrics`` for operators: calls, turns, latency and workflows started.

The voice loop runs in API processes and the wrap-up in workers, and every finished call ends
up as a call record; so the counters are fed from those records. At each scrape the calls
finished since the previous one are counted once each into this process's counters and
histograms (a re-scrape or a late-committed record is neither lost nor counted twice), which
keeps the instruments ordinary monotonic Prometheus series that reset when the process restarts.
"""

from __future__ import annotations

import asyncio
import hmac
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlmodel import col, func, select

from adminapi.auth import SESSION_COOKIE, authenticated, services_of
from core.db import Database
from core.models import Call, CallOutcome, Role, utcnow

# A call record may commit this long after its end time (the wrap-up runs after the call).
LATE_COMMIT = timedelta(minutes=10)
LATENCY_STAGES = {
    "stt_final": "stt_final_ms",
    "agent_first_token": "agent_first_token_ms",
    "tts_first_byte": "tts_first_byte_ms",
    "first_media": "first_media_ms",
}
_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
_DURATION_BUCKETS = (10, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)

_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False)
_bearer = HTTPBearer(auto_error=False)


class CallTelemetry:
    """This process's Prometheus instruments, fed from finished call records."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter(
            "receptionist_calls", "Finished calls", ["direction", "outcome"], registry=r
        )
        self.duration = Histogram(
            "receptionist_call_duration_seconds", "Call handle time",
            buckets=_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.turns = Counter("receptionist_turns", "Caller turns answered", registry=r)
        self.latency = Histogram(
            "receptionist_turn_latency_seconds",
            "From the end of the caller's speech to each stage of the answer",
            ["stage"], buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.workflows = Counter(
            "receptionist_workflows_started", "Workflows started by calls", ["kind"], registry=r
        )
        self.in_progress = Gauge(
            "receptionist_calls_in_progress", "Calls in progress (all processes)", registry=r
        )
        self.live_sessions = Gauge(
            "receptionist_live_sessions", "Media streams served by this process", registry=r
        )
        self._since = utcnow()
        self._seen: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    def observe(self, call: Call) -> None:
        assert call.ended_at is not None
        self.calls.labels(direction=str(call.direction), outcome=str(call.outcome)).inc()
        self.duration.observe(max(0.0, (call.ended_at - call.started_at).total_seconds()))
        for turn in call.turn_latencies:
            self.turns.inc()
            for stage, key in LATENCY_STAGES.items():
                value = turn.get(key)
                if isinstance(value, int | float) and value >= 0:
                    self.latency.labels(stage=stage).observe(value / 1000)
        for workflow_id in call.workflow_ids:
            self.workflows.labels(kind=workflow_id.split("-", 1)[0]).inc()

    async def refresh(self, db: Database) -> None:
        async with self._lock:
            floor = max(self._since, utcnow() - LATE_COMMIT)
            async with db.read() as session:
                finished = (
                    await session.exec(
                        select(Call).where(
                            col(Call.ended_at) >= floor, Call.outcome != CallOutcome.IN_PROGRESS
                        )
                    )
                ).all()
                in_progress = (
                    await session.exec(
                        select(func.count())
                        .select_from(Call)
                        .where(Call.outcome == CallOutcome.IN_PROGRESS)
                    )
                ).one()
            for call in finished:
                if call.id not in self._seen and call.ended_at is not None:
                    self._seen[call.id] = call.ended_at
                    self.observe(call)
            self._seen = {k: v for k, v in self._seen.items() if v >= floor}
            self.in_progress.set(in_progress)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def build_router(telemetry: CallTelemetry) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "exposition"}},
    )
    async def metrics(
        request: Request,
        cookie: Annotated[str | None, Depends(_cookie)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Response:
        """Prometheus text format. Scrapers send ``Authorization: Bearer
        <RECEPTIONIST_METRICS_TOKEN>``; otherwise an operator's credentials are needed."""
        services = services_of(request)
        expected = services.settings.metrics_token
        scraper = bool(
            expected
            and bearer is not None
            and hmac.compare_digest(bearer.credentials.encode(), expected.encode())
        )
        if not scraper:
            principal = await authenticated(request, cookie, bearer)
            if principal.role is not Role.OPERATOR:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "operators only")
        await telemetry.refresh(services.db)
        voice = getattr(services, "voice", None)
        telemetry.live_sessions.set(len(getattr(voice, "active", {})))
        return Response(telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
