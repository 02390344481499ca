"""A private stack for eval runs: a headless Temporal dev server, and for each scenario a
fresh copy of a migrated, seeded SQLite database (so no scenario sees another's bookings)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client

from core.db import Database
from core.demo.seed import seed_demo
from core.migrate import upgrade
from core.settings import Settings
from core.temporal import data_converter
from stack.devserver import DevServer, free_port
from stack.temporal_cli import ensure_temporal_cli


@dataclass
class EvalStack:
    client: Client
    server: DevServer
    root: Path
    template: Path
    clinic_id: str
    _copies: int = 0

    @asynccontextmanager
    async def fresh_database(self) -> AsyncIterator[Database]:
        self._copies += 1
        path = self.root / f"scenario-{self._copies}.db"
        shutil.copy(self.template, path)
        db = Database(f"sqlite:///{path}", pool_size=5)
        try:
            yield db
        finally:
            await db.dispose()
            path.unlink(missing_ok=True)


@asynccontextmanager
async def eval_stack() -> AsyncIterator[EvalStack]:
    binary = await asyncio.to_thread(ensure_temporal_cli, Settings())
    with tempfile.TemporaryDirectory(prefix="receptionist-evals-") as tmp:
        root = Path(tmp)
        server = DevServer(
            binary, root / "temporal.db", port=free_port(), ui_port=None,
            log_file=root / "temporal.log",
        )  # fmt: skip
        server.start()
        try:
            await server.wait_ready()
            template = root / "template.db"
            await asyncio.to_thread(upgrade, f"sqlite:///{template}")
            db = Database(f"sqlite:///{template}")
            try:
                demo = await seed_demo(db)
            finally:
                await db.dispose()
            client = await Client.connect(server.address, data_converter=data_converter())
            yield EvalStack(client, server, root, template, demo.clinic_id)
        finally:
            server.stop()
