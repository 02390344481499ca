"""The receptionist's API served on loopback for simulated calls (demo runs, evals, benchmarks):
the real app on uvicorn with the production WebSocket settings and chosen speech engines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from api import create_app
from core.settings import Settings
from realtime.engines import SpeechEngines
from realtime.turns import TurnSettings


@dataclass
class LocalApi:
    base_url: str
    app: FastAPI
    server: uvicorn.Server


@asynccontextmanager
async def serve_api(
    settings: Settings,
    port: int,
    engines: SpeechEngines | None = None,
    turn_settings: TurnSettings | None = None,
    *,
    ws_per_message_deflate: bool = False,
) -> AsyncIterator[LocalApi]:
    """``settings.public_base_url`` must be ``http://127.0.0.1:{port}`` (what Twilio signs)."""
    app = create_app(settings, engines, turn_settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=port, log_config=None, ws="websockets-sansio",
            ws_per_message_deflate=ws_per_message_deflate, lifespan="on", log_level="warning",
            timeout_graceful_shutdown=10,
        )
    )  # fmt: skip
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # raises what stopped it
            raise RuntimeError("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    try:
        yield LocalApi(f"http://127.0.0.1:{port}", app, server)
    finally:
        server.should_exit = True
        await serving
