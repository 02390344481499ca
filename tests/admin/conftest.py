"""The API in-process (httpx over ASGI, lifespan run) on a real database, with two clinics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api import create_app
from core.db import Database
from core.models import Role
from core.settings import Settings
from tests.admin.tenants import Tenant, make_tenant
from tests.conftest import DEMO_NOW
from tests.support.accounts import Account, create_account

BASE_URL = "https://testserver"  # https: the session cookie is Secure


@dataclass
class AdminApi:
    app: FastAPI
    client: httpx.AsyncClient
    db: Database
    settings: Settings
    a: Tenant
    b: Tenant
    operator: Account

    def fresh_client(self) -> httpx.AsyncClient:
        """Another browser: its own cookie jar."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)


def api_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"temporal_address": "127.0.0.1:1"}  # unless a test needs it
    values.update(overrides)
    return Settings(database_url=database_url, data_dir=data_dir, **values)  # type: ignore[arg-type]


@pytest.fixture
async def admin_api(database_url: str, tmp_path: Path) -> AsyncIterator[AdminApi]:
    settings = api_settings(database_url, tmp_path)
    async for api in serve_admin_api(settings):
        yield api


async def serve_admin_api(settings: Settings) -> AsyncIterator[AdminApi]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        db: Database = app.state.services.db
        a = await make_tenant(db, settings.data_dir, DEMO_NOW)
        b = await make_tenant(db, settings.data_dir, DEMO_NOW, slug="harbor-family")
        operator = await create_account(db, None, Role.OPERATOR)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield AdminApi(app, client, db, settings, a, b, operator)
