"""Mounting the admin API, Prometheus metrics and the dashboard on the application."""

from __future__ import annotations

import importlib

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from adminapi import accounts, appointments, calls, catalog, clinic_settings, metrics, tasks
from adminapi.auth import clinic_access
from adminapi.prometheus import CallTelemetry
from adminapi.prometheus import build_router as prometheus_router
from core.models import Role
from dashboard import STATIC_DIR

# Clinic-scoped routers written alongside this package that may not be in every build. (The audit
# export router is mounted by api.py itself; security headers come from core.security.headers.)
OPTIONAL_ROUTERS = ("adminapi.campaigns",)


def _optional(module: str) -> APIRouter | None:
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    router: APIRouter = loaded.build_router()
    return router


def install(app: FastAPI) -> None:
    """Add ``/api/...``, ``/metrics`` and ``/dashboard`` to ``app``."""
    for module in (accounts, clinic_settings, catalog, appointments, calls, tasks, metrics):
        app.include_router(module.build_router())
    for name in OPTIONAL_ROUTERS:
        router = _optional(name)
        if router is not None:
            # Tenant isolation first, whatever the router's own dependencies do before their
            # role check (e.g. connect to Temporal): another clinic's user gets 404 at once.
            app.include_router(router, dependencies=[Depends(clinic_access(*Role))])
    app.include_router(prometheus_router(CallTelemetry()))

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")

    app.mount("/dashboard", StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
