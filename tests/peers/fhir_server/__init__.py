"""The FHIR test server (server.mjs: Medplum's FHIR router on Node) as a child process.

``./run test`` installs its npm packages (``npm ci`` from package-lock.json); without Node or
them the tests that need it skip on a developer machine and fail in CI.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

HERE = Path(__file__).parent
START_TIMEOUT_S = 60.0  # loading the R4 definitions takes a few seconds on a busy machine


class FhirServerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class FhirServer:
    """A running server: ``base_url`` is its FHIR base (``http://127.0.0.1:<port>/fhir/R4``)."""

    base_url: str
    root_url: str
    headers: dict[str, str] = field(default_factory=dict)  # e.g. a bearer token

    def reset(self) -> None:
        httpx.post(f"{self.root_url}/_admin/reset").raise_for_status()

    def create(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Create directly, behind the adapter's back (the front desk, another integration)."""
        return self._send("POST", resource["resourceType"], resource)

    def update(self, resource: dict[str, Any]) -> dict[str, Any]:
        return self._send("PUT", f"{resource['resourceType']}/{resource['id']}", resource)

    def read(self, path: str) -> dict[str, Any]:
        return self._send("GET", path)

    def search(self, resource_type: str, **params: str) -> list[dict[str, Any]]:
        bundle = self._send("GET", resource_type, params=params)
        return [entry["resource"] for entry in bundle.get("entry") or []]

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        answer = httpx.request(
            method, f"{self.base_url}/{path}", json=body, params=params, headers=self.headers
        )
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()
        return data


def node_ready() -> str | None:
    """Why the server cannot start here, or None when it can."""
    if shutil.which("node") is None:
        return "Node.js not found (the FHIR test server needs Node >= 18.19)"
    if not (HERE / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return "FHIR test server packages missing: run `npm ci` in tests/peers/fhir_server"
    return None


@contextmanager
def running(*args: str) -> Iterator[FhirServer]:
    """Start ``node server.mjs <args>`` on a free port; stop it on exit."""
    problem = node_ready()
    if problem:
        raise FhirServerUnavailable(problem)
    # stderr goes to a file: a pipe nobody drains could fill up and stall the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            ["node", "server.mjs", "--port", "0", *args], cwd=HERE, stdout=subprocess.PIPE,
            stderr=log,
        )  # fmt: skip
        try:
            info = json.loads(_first_line(process, log))
            root = f"http://127.0.0.1:{info['port']}"
            yield FhirServer(base_url=root + info["base"], root_url=root)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _first_line(process: subprocess.Popen[bytes], log: IO[bytes]) -> str:
    result: list[bytes] = []
    reader = threading.Thread(
        target=lambda: result.append(process.stdout.readline() if process.stdout else b""),
        daemon=True,
    )
    reader.start()
    reader.join(START_TIMEOUT_S)
    if not result or not result[0]:
        process.kill()
        process.wait()
        log.seek(0)
        errors = log.read().decode(errors="replace")[-2000:]
        raise FhirServerUnavailable(f"the FHIR test server did not start: {errors}")
    return result[0].decode()
