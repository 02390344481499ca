"""The clinic's call metrics as JSON, per local day and in total (see ``core.metrics``)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from adminapi import roles
from adminapi.auth import Principal, clinic_access, not_found
from adminapi.deps import Services
from core.metrics import clinic_metrics
from core.models import Clinic

MAX_DAYS = 366


class Figures(BaseModel):
    calls_handled: int
    average_handle_seconds: float | None
    transfers: int
    transfer_rate: float | None
    transfer_reasons: dict[str, int]
    booking_intent_calls: int
    bookings: int
    booking_completion_rate: float | None
    after_hours_answered: int
    turns: int
    turn_latency_p50_ms: float | None
    turn_latency_p95_ms: float | None


class DayFigures(Figures):
    day: date


class MetricsOut(BaseModel):
    time_zone: str
    start: date
    end: date
    total: Figures
    days: list[DayFigures]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/clinics/{clinic_id}", tags=["metrics"])

    @router.get("/metrics", response_model=MetricsOut)
    async def metrics(
        clinic_id: str,
        services: Services,
        _: Annotated[Principal, Depends(clinic_access(*roles.METRICS))],
        start: Annotated[date | None, Query(alias="from", description="first local day")] = None,
        end: Annotated[date | None, Query(alias="to", description="last local day")] = None,
    ) -> MetricsOut:
        """Figures per day in the clinic's time zone; by default the last 14 days."""
        async with services.db.read() as session:
            clinic = await session.get(Clinic, clinic_id)
        if clinic is None:
            raise not_found("clinic not found")
        end = end or datetime.now(ZoneInfo(clinic.time_zone)).date()
        start = start or end - timedelta(days=13)
        if end < start or (end - start).days >= MAX_DAYS:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                f"give from <= to, at most {MAX_DAYS} days apart",
            )
        result = await clinic_metrics(services.db, clinic_id, start, end)
        return MetricsOut.model_validate(result, from_attributes=True)

    return router
