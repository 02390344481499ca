"""Small dependencies and lookups shared by the routers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query, Request, status
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from adminapi.auth import ApiServices, not_found, services_of
from core.clinic_config import ClinicConfigError

Services = Annotated[ApiServices, Depends(services_of)]
Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="rows to skip")]

Row = TypeVar("Row", bound=SQLModel)


async def owned(session: AsyncSession, model: type[Row], row_id: str, clinic_id: str) -> Row:
    """The row ``row_id`` of ``model`` if it belongs to the clinic; 404 otherwise (also for
    another clinic's row, which must be indistinguishable from a missing one)."""
    row = await session.get(model, row_id)
    if row is None or getattr(row, "clinic_id", None) != clinic_id:
        raise not_found(f"{model.__name__.lower()} not found")
    return row


def config_refused(exc: ClinicConfigError) -> HTTPException:
    """A refused configuration as 422, in FastAPI's error shape with each field's path."""
    detail: list[dict[str, Any]] = [
        {"loc": path.split("."), "msg": message, "type": "value_error"}
        for path, message in exc.errors
    ]
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail)


def conflict(message: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, message)


def request_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def as_utc(moment: datetime) -> datetime:
    """Query bounds given without an offset are taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
