"""Schemathesis fuzzing of the OpenAPI document, authenticated as a clinic admin, against the
real API served by uvicorn (real database, Temporal and worker): no generated request may make
the server fail (5xx). Bounded: a few deterministic examples per operation."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from temporalio.client import Client

from api import create_app
from core.db import Database
from stack.devserver import DevServer, free_port
from tests.admin.conftest import api_settings
from tests.admin.tenants import make_tenant
from tests.conftest import DEMO_NOW
from tests.support.workers import running_worker

EXAMPLES_PER_OPERATION = 8
# Unsigned requests to the webhooks (and the codec without its token) stop at the signature check,
# so fuzzing them here would only test that; tests/security/test_hardening.py and the voice
# edge's bad-input tests cover those routes with forged, unsigned and malformed requests.
SKIPPED_PREFIXES = ("/twilio/", "/codec")


def _fuzz(schema: Any, base_url: str, clinic_id: str, token: str) -> list[str]:
    """Runs in a thread (requests is blocking) while the event loop serves the API."""
    failures: list[str] = []
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(SKIPPED_PREFIXES):
            continue

        @settings(
            max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            # Aim at the admin's own clinic, so generated ids and bodies reach the handlers.
            if "clinic_id" in case.path_parameters:
                case.path_parameters["clinic_id"] = clinic_id
            if case.path.endswith("/live"):
                case.query = {**(case.query or {}), "once": "true"}
            response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.text[:200]}")

        run()
    return failures


async def test_no_generated_request_fails_the_server(
    database_url: str, tmp_path: Path, temporal_client: Client, temporal_server: DevServer
) -> None:
    db = Database(database_url)
    try:
        tenant = await make_tenant(db, tmp_path, DEMO_NOW)
        async with running_worker(temporal_client, db) as prefix:
            app = create_app(
                api_settings(database_url, tmp_path, temporal_address=temporal_server.address,
                             task_queue_prefix=prefix)
            )  # fmt: skip
            port = free_port()
            server = uvicorn.Server(
                uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
            )
            serving = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.01)
            try:
                schema = schemathesis.openapi.from_dict(app.openapi())
                failures = await asyncio.to_thread(
                    _fuzz, schema, f"http://127.0.0.1:{port}", tenant.clinic_id,
                    tenant.admin.api_token,
                )  # fmt: skip
            finally:
                server.should_exit = True
                await serving
    finally:
        await db.dispose()
    assert failures == []
