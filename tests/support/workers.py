"""The real worker registrations, run in-process on a task-queue prefix of the test's own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio.client import Client

from core.db import Database
from core.settings import Settings
from integrations.registry import AdapterRegistry
from worker import build_workers


@asynccontextmanager
async def running_worker(
    client: Client, db: Database, registry: AdapterRegistry | None = None, prefix: str | None = None
) -> AsyncIterator[str]:
    """Run every worker of ``worker.py``; yields the task-queue prefix to start workflows on."""
    prefix = prefix or f"t{uuid.uuid4().hex[:8]}-"
    settings = Settings(task_queue_prefix=prefix)
    # No workflow cache: every task replays from the start, so non-determinism shows up here.
    workers = build_workers(client, db, settings, registry)
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield prefix
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers))
        await asyncio.gather(*tasks, return_exceptions=True)
