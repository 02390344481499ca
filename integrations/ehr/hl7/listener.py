"""The inbound MLLP listener: SIU messages from the practice-management system, applied to the
local schedule so that time booked at the front desk disappears from our availability at once.

Each message gets one ACK on the same connection (connections stay open for the next message):

- AA: applied (or a re-delivery of a control id already applied: not applied twice);
- AE: well-formed but cannot be applied (unknown provider, impossible times) — ERR says why;
- AR + ERR: malformed (garbled or unknown segments, not SIU S12/S13/S14/S15/S26, missing MSH-10,
  a version the interface refuses), addressed to a facility no clinic answers to, or our side
  failed (ERR 207: send it again later).

Nothing is applied unless the answer is AA. Logs carry control ids and codes, never PHI.
The clinic is the one whose HL7 settings (``adapters.ehr`` named ``hl7``) have ``facility``
equal to MSH-6 and ``application`` equal to MSH-5 (when the sender fills it).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlmodel import select

from core.db import Database
from core.models import Clinic
from core.scheduling import SchedulingError
from core.scheduling.external import UnknownProvider, apply_external_appointment
from integrations.ehr.hl7 import store
from integrations.ehr.hl7.ack import ErrorCode, build_ack
from integrations.ehr.hl7.inbound import (
    Malformed,
    check_structure,
    check_version,
    read_siu,
    received_header,
)
from integrations.ehr.hl7.mllp import MAX_FRAME, FrameError, frame, read_frame
from integrations.ehr.hl7.settings import Hl7Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    clinic_id: str
    time_zone: str
    settings: Hl7Settings


class AmbiguousRoute(LookupError):
    """Two clinics claim the same facility: their feeds cannot be told apart."""


async def find_route(db: Database, application: str, facility: str) -> Route | None:
    """The clinic an inbound message is addressed to (read per message: config edits apply)."""
    async with db.read() as session:
        clinics = (await session.exec(select(Clinic))).all()
    routes = []
    for clinic in clinics:
        choice = clinic.adapters.get("ehr") or {}
        if choice.get("name") != "hl7":
            continue
        try:
            settings = Hl7Settings.model_validate(choice.get("settings") or {})
        except ValidationError:
            continue  # a misconfigured clinic is refused when its adapter is built
        if settings.facility == facility and application in ("", settings.application):
            routes.append(Route(clinic.id, clinic.time_zone, settings))
    if len(routes) > 1:
        raise AmbiguousRoute("more than one clinic answers to that facility")
    return routes[0] if routes else None


class SiuHandler:
    """Turns one received message into its ACK, applying it when it is acceptable."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def handle(self, text: str) -> str:
        received = received_header(text)
        context = {"control_id": received.control_id, "event": received.trigger}
        try:
            message, event = check_structure(text)
            try:
                route = await find_route(
                    self.db, received.receiving_application, received.receiving_facility
                )
            except AmbiguousRoute as exc:
                raise Malformed(ErrorCode.UNKNOWN_KEY, "MSH^1^6", str(exc)) from exc
            if route is None:
                raise Malformed(ErrorCode.UNKNOWN_KEY, "MSH^1^6", "no clinic has that facility")
            context["clinic_id"] = route.clinic_id
            check_version(message, route.settings.accepted_versions)
            siu = read_siu(message, event, ZoneInfo(route.time_zone), route.settings.application)
        except Malformed as exc:
            log.warning(
                "hl7 message rejected",
                extra={**context, "ack": "AR", "error": int(exc.code), "at": exc.location},
            )
            return build_ack(
                received, "AR", error=exc.code, error_location=exc.location, text=str(exc)
            )
        if await store.inbound_answer(self.db, route.clinic_id, siu.control_id) == "AA":
            log.info("hl7 message re-delivered", extra={**context, "ack": "AA"})
            return build_ack(received, "AA")
        try:
            result = await apply_external_appointment(self.db, route.clinic_id, siu.change)
        except SchedulingError as exc:
            code = (
                ErrorCode.UNKNOWN_KEY
                if isinstance(exc, UnknownProvider)
                else (ErrorCode.INTERNAL_ERROR)
            )
            location = "AIP^1^3" if isinstance(exc, UnknownProvider) else "SCH^1"
            log.warning(
                "hl7 message not applied",
                extra={**context, "ack": "AE", "error": exc.code},
            )
            return build_ack(
                received,
                "AE",
                error=code,
                error_location=location,
                application_error=exc.code.upper(),
                text=str(exc),
            )
        await store.record_inbound(
            self.db,
            route.clinic_id,
            siu.control_id,
            event=siu.event.value,
            placer_id=siu.placer_id or None,
            filler_id=siu.filler_id or None,
            status=siu.change.status.value,
            starts_at=siu.change.starts_at if result.action != "ignored" else None,
            ends_at=siu.change.ends_at if result.action != "ignored" else None,
        )
        log.info(
            "hl7 message applied",
            extra={
                **context,
                "ack": "AA",
                "action": result.action,
                "appointment_id": result.appointment_id,
                "conflicts": len(result.conflicts),
            },
        )
        return build_ack(received, "AA")


class MllpListener:
    """An asyncio MLLP server feeding ``SiuHandler``; one task per connection."""

    def __init__(self, db: Database, host: str = "127.0.0.1", port: int = 2575) -> None:
        self.handler = SiuHandler(db)
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=MAX_FRAME
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("mllp listener started", extra={"host": self.host, "port": self.port})
        return self.port

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    text = await read_frame(reader)
                except FrameError:
                    log.warning("mllp frame refused; closing the connection")
                    return
                if text is None:
                    return
                try:
                    answer = await self.handler.handle(text)
                except Exception:
                    # Our side failed (database down, a bug): AR, the "receiver unavailable"
                    # answer that tells the sender to send the message again later.
                    log.exception("hl7 message failed")
                    answer = build_ack(received_header(text), "AR", error=ErrorCode.INTERNAL_ERROR)
                writer.write(frame(answer))
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.start()
        try:
            await stop.wait()
        finally:
            await self.close()
