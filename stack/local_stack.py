"""`receptionist dev`: the whole local stack in one command, stopped cleanly by Ctrl-C.

Starts (or reuses) the Temporal dev server, migrates and seeds the database, then runs the
worker and the API as child processes, as they run in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from core.settings import Settings
from stack.devserver import DevServer, port_open
from stack.temporal_cli import ensure_temporal_cli


def _spawn(args: list[str], log_file: Path) -> subprocess.Popen[bytes]:
    log = open(log_file, "ab")  # noqa: SIM115  (owned by the child for its lifetime)
    return subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env=os.environ.copy(),
    )


def _stop(process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def _wait_http(url: str, timeout: float = 60.0) -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout * 5)):
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not turn healthy; see the logs in the data directory")


async def run_local_stack(settings: Settings, stop: asyncio.Event, *, demo: bool = True) -> None:
    logs = settings.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    host, _, port = settings.temporal_address.rpartition(":")
    server: DevServer | None = None
    if port_open(host, int(port)):
        print(f"Using the Temporal server already listening on {settings.temporal_address}.")
    else:
        server = DevServer(
            ensure_temporal_cli(settings),
            settings.temporal_db_file,
            host=host,
            port=int(port),
            ui_port=settings.temporal_ui_port,
            log_file=logs / "temporal.log",
        )
        server.start()
        print(f"Starting the Temporal dev server on {server.address} (state: {server.db_file})...")
        await server.wait_ready()
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(_spawn(["worker"], logs / "worker.log"))
        children.append(_spawn(["api"], logs / "api.log"))
        api = f"http://{settings.api_host}:{settings.api_port}"
        await _wait_http(f"{api}/healthz")
        print(
            "\nThe receptionist is running.\n"
            f"  API            {api}  (health: {api}/healthz, docs: {api}/docs)\n"
            f"  Dashboard      {api}/dashboard/  (a login: ./run user create"
            " --email you@example.com --role admin --clinic bright-smile)\n"
            f"  Temporal UI    http://{host}:{settings.temporal_ui_port}\n"
            f"  Logs           {logs}\n"
            "Press Ctrl-C to stop.",
            flush=True,
        )
        if demo:
            from stack.demo import DEMO_LINES, run_call

            print("\nDemo: a patient calls to book a cleaning.", flush=True)
            await run_call(settings, DEMO_LINES)
            print('More calls: `./run call "hi i need to cancel my appointment" ...`', flush=True)
        while not stop.is_set():
            for child in children:
                if child.poll() is not None:
                    raise RuntimeError(f"a child process exited ({child.args!r}); see {logs}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        print("\nStopping...", flush=True)
        for child in reversed(children):
            _stop(child)
        if server is not None:
            server.stop()
        print("Stopped.", flush=True)
