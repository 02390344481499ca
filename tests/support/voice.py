"""The API served for real (uvicorn on loopback) with chosen speech engines, and calls placed
into it by the simulated phone network."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from api import create_app
from core.settings import Settings
from phonesim.twilio_peer import TwilioPeer
from realtime.engines import SpeechEngines
from realtime.turns import TurnSettings
from stack.devserver import free_port

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
CLINIC_NUMBER = "+12075550100"
CALLER_NUMBER = "+12075550111"  # Alex Rivera, a seeded patient


@dataclass
class VoiceServer:
    base_url: str
    settings: Settings
    app: object

    def peer(
        self, *, to_number: str = CLINIC_NUMBER, from_number: str = CALLER_NUMBER
    ) -> TwilioPeer:
        return TwilioPeer(self.base_url, AUTH_TOKEN, to_number=to_number, from_number=from_number)

    @property
    def sessions(self):  # the running VoiceSessions, to look inside calls in tests
        return self.app.state.services.voice  # type: ignore[attr-defined]


@asynccontextmanager
async def serve_voice(
    database_url: str, temporal_address: str, prefix: str, tmp_path: Path,
    engines: SpeechEngines | None = None, turn_settings: TurnSettings | None = None,
) -> AsyncIterator[VoiceServer]:  # fmt: skip
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url, temporal_address=temporal_address, task_queue_prefix=prefix,
        data_dir=tmp_path, public_base_url=base_url, twilio_auth_token=AUTH_TOKEN,
    )  # fmt: skip
    app = create_app(settings, engines, turn_settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            ws="websockets-sansio",
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield VoiceServer(base_url, settings, app)
    finally:
        server.should_exit = True
        await task
