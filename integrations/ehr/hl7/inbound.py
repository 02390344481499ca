"""Reading SIU messages from a practice-management system into ``ExternalAppointment`` changes.

Checks come first and are explicit, so a malformed message is refused with the ERR code and
location that names the problem (HL7 table 0357) and nothing is applied: unknown or garbled
segments, a message type other than SIU S12/S13/S14/S15/S26, a missing MSH-10, a version the
interface does not accept, missing ids or times.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import hl7

from core.scheduling.external import ExternalAppointment, ExternalPatient, ExternalStatus
from integrations.ehr.hl7 import er7
from integrations.ehr.hl7.ack import ErrorCode, Received
from integrations.ehr.hl7.messages import SiuEvent

SOURCE = "hl7"
# Segments of the SIU_S12 structure (all SIU events share it), plus EVN some feeds add.
SIU_SEGMENTS = frozenset("MSH EVN SCH TQ1 NTE PID PD1 PV1 PV2 OBX DG1 RGS AIS AIG AIL AIP".split())
_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_DTM = re.compile(r"^(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,4})?([+-]\d{4})?$")
STATUS = {
    SiuEvent.NEW: ExternalStatus.BOOKED,
    SiuEvent.RESCHEDULE: ExternalStatus.BOOKED,
    SiuEvent.MODIFY: ExternalStatus.BOOKED,
    SiuEvent.CANCEL: ExternalStatus.CANCELLED,
    SiuEvent.NOSHOW: ExternalStatus.NOSHOW,
}


class Malformed(ValueError):
    """Reject the message (AR) with this ERR code and location (``SEG^1^field``)."""

    def __init__(self, code: ErrorCode, location: str, message: str) -> None:
        super().__init__(message)
        self.code, self.location = code, location


def received_header(text: str) -> Received:
    """The MSH facts an ACK needs, read from whatever arrived (possibly garbage)."""
    try:
        message = er7.parse(text)
    except (ValueError, hl7.ParseException):
        return Received()
    return Received(
        sending_application=er7.value(message, "MSH", 3),
        sending_facility=er7.value(message, "MSH", 4),
        receiving_application=er7.value(message, "MSH", 5),
        receiving_facility=er7.value(message, "MSH", 6),
        trigger=er7.value(message, "MSH", 9, 2),
        control_id=er7.value(message, "MSH", 10),
        processing_id=er7.value(message, "MSH", 11) or "P",
        version=er7.value(message, "MSH", 12),
    )


def check_structure(text: str) -> tuple[hl7.Message, SiuEvent]:
    """Parse and check the envelope; raises ``Malformed``."""
    segments = [s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]
    if not segments or not segments[0].startswith("MSH|"):
        raise Malformed(ErrorCode.SEGMENT_SEQUENCE, "MSH^1", "the message does not start with MSH")
    for number, segment in enumerate(segments, start=1):
        name = segment[:3]
        if not _SEGMENT_NAME.match(name) or segment[3:4] not in ("|", ""):
            raise Malformed(ErrorCode.SEGMENT_SEQUENCE, f"^{number}", "a segment is garbled")
        if name not in SIU_SEGMENTS and not name.startswith("Z"):
            raise Malformed(
                ErrorCode.SEGMENT_SEQUENCE, f"{name}^1", f"segment {name} has no place in SIU"
            )
    try:
        message = er7.parse("\r".join(segments))
    except (ValueError, hl7.ParseException) as exc:
        raise Malformed(ErrorCode.SEGMENT_SEQUENCE, "MSH^1", "unparseable message") from exc
    if not er7.value(message, "MSH", 10):
        raise Malformed(ErrorCode.REQUIRED_FIELD_MISSING, "MSH^1^10", "MSH-10 is missing")
    if er7.value(message, "MSH", 9, 1) != "SIU":
        raise Malformed(ErrorCode.UNSUPPORTED_MESSAGE_TYPE, "MSH^1^9", "only SIU is accepted")
    trigger = er7.value(message, "MSH", 9, 2)
    try:
        event = SiuEvent(trigger)
    except ValueError:
        raise Malformed(
            ErrorCode.UNSUPPORTED_EVENT, "MSH^1^9^2", f"SIU^{trigger} is not handled"
        ) from None
    if len([s for s in segments if s.startswith("SCH|")]) != 1:
        raise Malformed(ErrorCode.SEGMENT_SEQUENCE, "SCH^1", "exactly one SCH is required")
    return message, event


def check_version(message: hl7.Message, accepted: list[str]) -> None:
    version = er7.value(message, "MSH", 12)
    if version not in accepted:
        raise Malformed(
            ErrorCode.UNSUPPORTED_VERSION, "MSH^1^12", f"version {version or '(none)'} refused"
        )


def hl7_datetime(value: str, tz: ZoneInfo, location: str) -> datetime:
    """DTM (``YYYYMMDD[HH[MM[SS]]][.S][+/-ZZZZ]``); without an offset, clinic-local time."""
    match = _DTM.match(value)
    if match is None:
        raise Malformed(ErrorCode.DATA_TYPE_ERROR, location, "not an HL7 date/time")
    day, hour, minute, second, offset = match.groups()
    try:
        naive = datetime.strptime(
            f"{day}{hour or '00'}{minute or '00'}{second or '00'}", "%Y%m%d%H%M%S"
        )
        if offset:
            return datetime.strptime(naive.strftime("%Y%m%d%H%M%S") + offset, "%Y%m%d%H%M%S%z")
    except ValueError as exc:
        raise Malformed(ErrorCode.DATA_TYPE_ERROR, location, "not a valid date/time") from exc
    return naive.replace(tzinfo=tz)


def _times(message: hl7.Message, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Start and end from SCH-11 (TQ), else TQ1-7/8, else AIS-4 + AIS-7 minutes."""
    for segment, start_at, end_at in (("SCH", (11, 4), (11, 5)), ("TQ1", (7, 1), (8, 1))):
        start = er7.value(message, segment, *start_at)
        end = er7.value(message, segment, *end_at)
        if start and end:
            location = f"{segment}^1^{start_at[0]}"
            return hl7_datetime(start, tz, location), hl7_datetime(end, tz, location)
    start = er7.value(message, "AIS", 4)
    minutes = er7.value(message, "AIS", 7) or er7.value(message, "SCH", 9)
    if start and minutes.isdigit():
        begins = hl7_datetime(start, tz, "AIS^1^4")
        return begins, begins + timedelta(minutes=int(minutes))
    raise Malformed(ErrorCode.REQUIRED_FIELD_MISSING, "SCH^1^11", "the appointment has no times")


def _patient(message: hl7.Message) -> ExternalPatient | None:
    if not er7.value(message, "PID", 5) and not er7.value(message, "PID", 3):
        return None
    born = er7.value(message, "PID", 7)[:8]
    return ExternalPatient(
        external_id=er7.value(message, "PID", 3) or None,
        first_name=er7.value(message, "PID", 5, 2) or None,
        last_name=er7.value(message, "PID", 5, 1) or None,
        date_of_birth=f"{born[:4]}-{born[4:6]}-{born[6:8]}" if len(born) == 8 else None,
        phone=er7.value(message, "PID", 13) or None,
    )


@dataclass(frozen=True)
class InboundSiu:
    event: SiuEvent
    control_id: str
    placer_id: str
    filler_id: str
    change: ExternalAppointment


def read_siu(
    message: hl7.Message, event: SiuEvent, tz: ZoneInfo, our_application: str
) -> InboundSiu:
    """The change an SIU message asks for; ``our_application`` recognises our own placer ids
    (an echo of a booking we made) so it updates that appointment instead of adding one."""
    placer = er7.value(message, "SCH", 1)
    filler = er7.value(message, "SCH", 2)
    if not (placer or filler):
        raise Malformed(ErrorCode.REQUIRED_FIELD_MISSING, "SCH^1^1", "no appointment id")
    ours = placer and er7.value(message, "SCH", 1, 2) == our_application
    status = STATUS[event]
    if status is ExternalStatus.BOOKED:
        starts_at, ends_at = _times(message, tz)
        provider = er7.value(message, "AIP", 3)
        if not provider:
            raise Malformed(ErrorCode.REQUIRED_FIELD_MISSING, "AIP^1^3", "no provider")
    else:
        # Cancellations and no-shows name the appointment; times are not needed to apply them.
        starts_at = ends_at = datetime.now(tz)
        provider = er7.value(message, "AIP", 3)
    change = ExternalAppointment(
        external_id=filler or placer,
        source=SOURCE,
        provider_ref=provider,
        starts_at=starts_at,
        ends_at=ends_at,
        status=status,
        appointment_type=er7.value(message, "AIS", 3) or None,
        patient=_patient(message),
        local_appointment_id=placer if ours else None,
        reason=(er7.value(message, "SCH", 6) or None)
        if status is not ExternalStatus.BOOKED
        else None,
    )
    return InboundSiu(event, er7.value(message, "MSH", 10), placer, filler, change)
