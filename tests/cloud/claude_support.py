"""Shared by the Claude tests: the demo clinic switched to Claude, and text calls through the
engines a clinic's configuration picks (real anthropic SDK → the local Messages API)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client

from core.clinic_config import EnginesConfig
from core.db import Database
from core.demo.seed import demo_config, seed_clinic
from core.models import Clinic
from core.settings import Settings
from evals.text_call import open_text_call
from realtime.agent.profile import load_clinic_profile
from realtime.engines import ClinicEngines
from tests.fakes.anthropic_api import API_KEY
from tests.support.conversation import TextCall
from tests.support.workers import running_worker

CALLER = "+12075550111"  # Alex Rivera, a seeded patient


def claude_settings(base_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "anthropic_api_key": API_KEY if base_url else None,
        "anthropic_base_url": base_url,
        "claude_model": "claude-haiku-4-5",
        "claude_max_tokens": 300,
        **overrides,
    }
    return Settings(**values)


async def use_engines(db: Database, **choice: Any) -> Clinic:
    """Re-apply the demo clinic's configuration with an ``engines`` section."""
    config = demo_config(datetime.now(UTC).date())
    config.engines = EnginesConfig(**choice)
    return await seed_clinic(db, config)


@asynccontextmanager
async def claude_call(
    db: Database,
    client: Client,
    clinic: Clinic,
    settings: Settings,
    *,
    caller_phone: str | None = CALLER,
) -> AsyncIterator[tuple[TextCall, list[str]]]:
    """A text call on the engines the clinic's configuration picks; yields it and the call's
    failover notes (what the session would put on the call record)."""
    engines = ClinicEngines(settings).for_clinic(clinic)
    failovers: list[str] = []
    async with running_worker(client, db) as prefix:
        agent = engines.agent(
            await load_clinic_profile(db, clinic.id), on_failover=failovers.append
        )
        call = await open_text_call(agent, db, client, clinic.id, prefix, caller_phone=caller_phone)
        yield call, failovers
