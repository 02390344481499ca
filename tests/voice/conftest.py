"""Voice-loop fixtures: the real API on loopback with scripted providers, workers running."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from realtime.engines import SpeechEngines
from realtime.turns import TurnSettings
from stack.devserver import DevServer
from tests.support.voice import VoiceServer, serve_voice
from tests.support.workers import running_worker

# Short timers so timeline tests run in seconds; the mechanisms are the production ones.
FAST = TurnSettings(
    endpointing_ms=300, idle_reprompt_s=1.5, idle_reprompts=1, min_interruption_ms=300
)

Serve = Callable[..., AbstractAsyncContextManager[VoiceServer]]


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from tests.conftest import new_database_url

    return new_database_url("sqlite", tmp_path, request)


@pytest.fixture
def voice(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path,
) -> Serve:  # fmt: skip
    @asynccontextmanager
    async def serve(
        engines: SpeechEngines, settings: TurnSettings = FAST
    ) -> AsyncIterator[VoiceServer]:
        async with (
            running_worker(temporal_client, db) as prefix,
            serve_voice(
                database_url, temporal_server.address, prefix, tmp_path, engines, settings
            ) as server,
        ):
            yield server

    return serve
