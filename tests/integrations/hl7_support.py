"""The scripted EHR peer process (tests/peers/hl7_peer.py) and a front desk that books on it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import hl7
from hl7.mllp import open_hl7_connection

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Hl7Peer:
    directory: Path
    port: int

    def received(self) -> list[dict[str, Any]]:
        path = self.directory / "received.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def appointments(self) -> dict[str, dict[str, Any]]:
        path = self.directory / "appointments.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def script(self, *rules: dict[str, Any]) -> None:
        target = self.directory / "script.json"
        (self.directory / "script.tmp").write_text(json.dumps(list(rules)))
        (self.directory / "script.tmp").rename(target)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "facility": "BRIGHTSMILE",
            "remote_application": "PEER_EHR",
            "ack_timeout_seconds": 5.0,
            "retry_backoff_seconds": 0.05,
            **overrides,
        }


@contextmanager
def running_peer(directory: Path) -> Iterator[Hl7Peer]:
    """The peer process, listening, for the duration of the block."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.peers.hl7_peer", str(directory)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(directory / "peer.log", "w"),  # noqa: SIM115 - closed with the process
    )
    try:
        deadline = time.monotonic() + 60
        while not (directory / "port").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((directory / "peer.log").read_text() or "peer did not start")
            time.sleep(0.05)
        yield Hl7Peer(directory, int((directory / "port").read_text()))
    finally:
        process.terminate()
        process.wait(timeout=10)


def _hl7_time(instant: datetime) -> str:
    return instant.strftime("%Y%m%d%H%M%S%z")


async def front_desk_books(
    port: int, provider: str, starts_at: datetime, ends_at: datetime, placer: str | None = None
) -> str:
    """Another system books ``provider`` at that time on the peer; returns the ACK code."""
    placer = placer or f"DESK{uuid.uuid4().hex[:8]}"
    control = f"D{uuid.uuid4().hex[:12]}"
    text = "\r".join(
        [
            f"MSH|^~\\&|FRONTDESK|CLINIC|PEER_EHR|BRIGHTSMILE|20260101000000||SIU^S12^SIU_S12|"
            f"{control}|P|2.5.1",
            f"SCH|{placer}^FRONTDESK|||||NEW^New^L|||||^^60^{_hl7_time(starts_at)}^"
            f"{_hl7_time(ends_at)}|||||DESK^Desk||||DESK^Desk|||||Booked",
            "PID|1||X1^^^DESK^MR||Walkin^Wendy||19700101",
            "RGS|1|A",
            f"AIP|1||{provider}",
        ]
    )
    reader, writer = await open_hl7_connection("127.0.0.1", port, encoding="utf-8")
    try:
        writer.writemessage(hl7.parse(text))
        await writer.drain()
        ack = await reader.readmessage()
    finally:
        writer.close()
        await writer.wait_closed()
    return str(ack.extract_field("MSA", 1, 1, 1, 1))


def siu(
    event: str,
    *,
    control: str,
    placer: str,
    provider: str = "",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    filler: str = "",
    placer_namespace: str = "PMS",
    facility: str = "BRIGHTSMILE",
    version: str = "2.5.1",
    patient: str = "PID|1||MRN-55^^^PMS^MR||Marsh^Lena||19700203|||||+12075550199",
    service: str = "cleaning^Teeth cleaning^L",
) -> str:
    """An SIU message as a practice-management system would send it."""
    timing = ""
    if starts_at is not None and ends_at is not None:
        minutes = int((ends_at - starts_at).total_seconds() // 60)
        timing = f"^^{minutes}^{_hl7_time(starts_at)}^{_hl7_time(ends_at)}"
    segments = [
        f"MSH|^~\\&|PMS|CLINIC|RECEPTIONIST|{facility}|20260101000000||SIU^{event}^SIU_S12|"
        f"{control}|P|{version}",
        f"SCH|{placer}^{placer_namespace}|{filler}||||REASON^Reason^L|||||{timing}|||||"
        "DESK^Desk||||DESK^Desk|||||Booked",
        patient,
        "RGS|1",
        f"AIS|1||{service}",
        f"AIP|1||{provider}" if provider else "AIP|1",
    ]
    return "\r".join(s for s in segments if s)


class MllpClient:
    """A real MLLP client (python-hl7's asyncio streams) on one persistent connection."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._streams: tuple[Any, Any] | None = None

    async def send(self, text: str) -> hl7.Message:
        """Frame ``text`` as is (malformed on purpose or not) and read the ACK."""
        if self._streams is None:
            self._streams = await open_hl7_connection("127.0.0.1", self.port, encoding="utf-8")
        reader, writer = self._streams
        writer.writeblock(text.encode("utf-8"))
        await writer.drain()
        return await reader.readmessage()

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            writer.close()
            await writer.wait_closed()
            self._streams = None


def ack_code(ack: hl7.Message) -> str:
    return str(ack.extract_field("MSA", 1, 1, 1, 1))


def ack_error(ack: hl7.Message) -> str:
    try:
        return str(ack.extract_field("ERR", 1, 3, 1, 1))
    except KeyError:
        return ""
