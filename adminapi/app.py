"""Mounting the admin API, Prometheus metrics and the dashboard on the application."""

from __future__ import annotations

import logging

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

from adminapi import (
    accounts,
    appointments,
    calls,
    campaigns,
    catalog,
    clinic_settings,
    metrics,
    tasks,
)
from adminapi.auth import clinic_access
from adminapi.prometheus import CallTelemetry
from adminapi.prometheus import build_router as prometheus_router
from core.models import Role
from dashboard import STATIC_DIR

log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    """Add ``/api/...``, ``/metrics`` and ``/dashboard`` to ``app``."""
    for module in (accounts, clinic_settings, catalog, appointments, calls, tasks, metrics):
        app.include_router(module.build_router())
    # Tenant isolation first, whatever the campaign router's own dependencies do before their
    # role check (connect to Temporal): another clinic's user gets 404 at once.
    app.include_router(campaigns.build_router(), dependencies=[Depends(clinic_access(*Role))])
    app.include_router(prometheus_router(CallTelemetry()))

    @app.exception_handler(DataError)
    async def unstorable_value(request: Request, exc: DataError) -> JSONResponse:
        # A value the database cannot hold or compare (a NUL character, an out-of-range
        # number): the request's fault, not the server's. The driver's message may quote it.
        log.info("request refused by the database", extra={"path": request.url.path})
        return JSONResponse(
            {"detail": "a value in the request cannot be stored or searched"}, status_code=422
        )

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    app.mount("/dashboard", StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
