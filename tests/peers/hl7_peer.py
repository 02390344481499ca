"""A scripted EHR at the other end of an HL7 v2 interface, run as its own process.

It speaks MLLP through python-hl7's asyncio server (persistent connections, several messages
per connection), keeps a schedule of the SIU appointments it accepted, and answers:

- AA when the message applies; a re-sent control id (MSH-10) gets its first answer again and is
  not applied twice;
- AE with ``ERR|…|207^Application internal error^HL70357|E|SLOT_TAKEN^…`` when an S12/S13 asks
  for time the provider already has booked (the conflict convention of docs/integrations.md),
  and AE ``204`` for an S13/S14/S15/S26 about an appointment it does not know;
- whatever ``script.json`` in its directory says first: a list of rules
  ``{"id": "r1", "answer": "AR" | "AE" | "silent" | "close", "times": 2, "event": "S12",
  "patient": "DOE"}`` (``silent`` sends nothing back, as a hung EHR would; ``close`` answers
  normally and then closes the connection, as an idle timeout would).

Everything received is appended to ``received.jsonl`` (with the connection number), the
schedule is written to ``appointments.json``, and the listening port to ``port``.

    python -m tests.peers.hl7_peer DIRECTORY
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import hl7
from hl7.mllp import start_hl7_server

Appointment = dict[str, Any]


def field(message: hl7.Message, segment: str, number: int, component: int = 1) -> str:
    try:
        return str(message.extract_field(segment, 1, number, 1, component))
    except (KeyError, IndexError):
        return ""


def when(value: str) -> datetime | None:
    for layout in ("%Y%m%d%H%M%S%z", "%Y%m%d%H%M%z", "%Y%m%d%H%M%S", "%Y%m%d%H%M"):
        try:
            return datetime.strptime(value, layout)
        except ValueError:
            continue
    return None


class Peer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.appointments: dict[str, Appointment] = {}
        # control id -> the answer given (AA/AE only: an AR'd message was not processed)
        self.answers: dict[str, tuple[str, str, str]] = {}
        self.rule_uses: dict[str, int] = {}
        self.connections = 0

    def _script(self) -> list[dict[str, Any]]:
        path = self.directory / "script.json"
        if not path.exists():
            return []
        rules: list[dict[str, Any]] = json.loads(path.read_text())
        return rules

    def _scripted(self, event: str, patient: str) -> dict[str, Any] | None:
        for index, rule in enumerate(self._script()):
            rule_id = str(rule.get("id", index))
            if rule.get("event") not in (None, event):
                continue
            if rule.get("patient") not in (None, patient):
                continue
            if self.rule_uses.get(rule_id, 0) >= int(rule.get("times", 1)):
                continue
            self.rule_uses[rule_id] = self.rule_uses.get(rule_id, 0) + 1
            return rule
        return None

    def _overlaps(self, placer: str, provider: str, start: datetime, end: datetime) -> bool:
        for other_placer, other in self.appointments.items():
            if other_placer == placer or other["status"] != "booked":
                continue
            if other["provider"] != provider:
                continue
            if (
                start < datetime.fromisoformat(other["end"])
                and datetime.fromisoformat(other["start"]) < end
            ):
                return True
        return False

    def apply(self, message: hl7.Message) -> tuple[str, str, str]:
        """(ACK code, ERR-3 code, ERR-5 application code)."""
        event = field(message, "MSH", 9, 2)
        placer = field(message, "SCH", 1)
        provider = field(message, "AIP", 3)
        start, end = when(field(message, "SCH", 11, 4)), when(field(message, "SCH", 11, 5))
        known = self.appointments.get(placer)
        if event == "S12":
            if known is not None and known["status"] == "booked":
                return "AA", "", ""  # the same appointment again: already there
            if not placer or start is None or end is None or not provider:
                return "AE", "101", "INCOMPLETE"
            if self._overlaps(placer, provider, start, end):
                return "AE", "207", "SLOT_TAKEN"
            self.appointments[placer] = {
                "provider": provider,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "status": "booked",
                "filler": f"F{len(self.appointments) + 1}",
            }
            return "AA", "", ""
        if known is None:
            return "AE", "204", "UNKNOWN_APPOINTMENT"
        if event in ("S13", "S14"):
            if start is None or end is None:
                return "AE", "101", "INCOMPLETE"
            if self._overlaps(placer, provider or known["provider"], start, end):
                return "AE", "207", "SLOT_TAKEN"
            known.update(
                provider=provider or known["provider"],
                start=start.isoformat(),
                end=end.isoformat(),
                status="booked",
            )
            return "AA", "", ""
        if event in ("S15", "S26"):
            known["status"] = "cancelled" if event == "S15" else "noshow"
            return "AA", "", ""
        return "AR", "201", ""

    def ack(self, message: hl7.Message, code: str, error: str, application: str) -> hl7.Message:
        ack = message.create_ack(ack_code=code, message_id=f"ACK{field(message, 'MSH', 10)}"[:20])
        if not error:
            return ack
        text = str(ack) + f"\rERR|||{error}^^HL70357|E|{application}^^L"
        return hl7.parse(text)

    def record(self, connection: int, message: hl7.Message, answer: str, error: str = "") -> None:
        entry = {
            "connection": connection,
            "control_id": field(message, "MSH", 10),
            "event": field(message, "MSH", 9, 2),
            "placer": field(message, "SCH", 1),
            "patient": field(message, "PID", 5),
            "provider": field(message, "AIP", 3),
            "answer": answer,
            "error": error,
            "er7": str(message),
        }
        with (self.directory / "received.jsonl").open("a") as out:
            out.write(json.dumps(entry) + "\n")
        (self.directory / "appointments.json").write_text(json.dumps(self.appointments))

    async def serve(
        self, reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter
    ) -> None:
        self.connections += 1
        connection = self.connections
        try:
            while True:
                try:
                    message = await reader.readmessage()
                except asyncio.IncompleteReadError:
                    return
                control = field(message, "MSH", 10)
                rule = self._scripted(field(message, "MSH", 9, 2), field(message, "PID", 5))
                if rule is not None and rule["answer"] == "close":
                    # Process normally, answer, then drop the connection (an idle timeout).
                    code, error, application = self.apply(message)
                    self.answers[control] = (code, error, application)
                    self.record(connection, message, code, application)
                    writer.writemessage(self.ack(message, code, error, application))
                    await writer.drain()
                    return
                if rule is not None:
                    answer = str(rule["answer"])
                    self.record(connection, message, answer, str(rule.get("error", "")))
                    if answer == "silent":
                        continue
                    reply = self.ack(message, answer, "207", str(rule.get("error", "")))
                elif control in self.answers:
                    code, error, application = self.answers[control]
                    self.record(connection, message, f"{code} (duplicate)", application)
                    reply = self.ack(message, code, error, application)
                else:
                    code, error, application = self.apply(message)
                    if code in ("AA", "AE"):
                        self.answers[control] = (code, error, application)
                    self.record(connection, message, code, application)
                    reply = self.ack(message, code, error, application)
                writer.writemessage(reply)
                await writer.drain()
        finally:
            writer.close()


async def main(directory: Path) -> None:
    peer = Peer(directory)
    server = await start_hl7_server(peer.serve, "127.0.0.1", 0, encoding="utf-8")
    port = server.sockets[0].getsockname()[1]
    (directory / "port.tmp").write_text(str(port))
    (directory / "port.tmp").rename(directory / "port")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
