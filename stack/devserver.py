"""The Temporal dev server as a child process, with the flags this project depends on.

State lives in a SQLite file under the data directory, so workflows survive a restart of the
server (proved by ``tests/test_temporal_durability.py``). Update-with-Start needs
``frontend.enableExecuteMultiOperation`` on server 1.29.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

DYNAMIC_CONFIG = {
    "frontend.enableExecuteMultiOperation": "true",
    "frontend.enableUpdateWorkflowExecution": "true",
    "frontend.enableUpdateWorkflowExecutionAsyncAccepted": "true",
    "frontend.enableServerVersionCheck": "false",
    "system.enableEagerWorkflowStart": "true",
}
# WAL lets the server's single connection write without blocking its readers.
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000")


class DevServerError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


@dataclass
class DevServer:
    binary: Path
    db_file: Path
    host: str = "127.0.0.1"
    port: int = 7233
    ui_port: int | None = 8233  # None: headless
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            "server",
            "start-dev",
            "--ip", self.host,
            "--port", str(self.port),
            "--db-filename", str(self.db_file),
            "--log-level", "warn",
            "--namespace", "default",
        ]  # fmt: skip
        cmd += ["--headless"] if self.ui_port is None else ["--ui-port", str(self.ui_port)]
        for key, value in DYNAMIC_CONFIG.items():
            cmd += ["--dynamic-config-value", f"{key}={value}"]
        for pragma in SQLITE_PRAGMAS:
            cmd += ["--sqlite-pragma", pragma]
        return cmd

    def start(self) -> None:
        if port_open(self.host, self.port):
            raise DevServerError(
                f"port {self.port} is already in use; is another Temporal server running? "
                "Stop it or set RECEPTIONIST_TEMPORAL_ADDRESS to use it."
            )
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Until the frontend answers a health check (the first start creates the schema)."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DevServerError(
                    f"the Temporal dev server exited with code {self.process.returncode}"
                    + (f"; see {self.log_file}" if self.log_file else "")
                )
            if port_open(self.host, self.port):
                try:
                    client = await Client.connect(self.address)
                    if await client.service_client.check_health():
                        return
                except Exception as exc:  # not up yet; retried until the deadline
                    last_error = exc
            await asyncio.sleep(0.1)
        raise DevServerError(f"the Temporal dev server did not become ready: {last_error}")

    def stop(self, *, kill: bool = False, timeout: float = 15.0) -> None:
        """SIGTERM (or SIGKILL when ``kill``), then wait; safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
