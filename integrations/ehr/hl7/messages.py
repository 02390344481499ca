"""Outbound SIU messages (S12 new, S13 reschedule, S14 modify, S15 cancel, S26 no-show),
built and validated with hl7apy.

All SIU events share the ``SIU_S12`` structure: MSH, SCH, [TQ1], [PID group], {RGS, [AIS],
[AIL], [AIP]}. SCH-6 (event reason), SCH-16 (filler contact) and SCH-20 (entered by) are
required by the standard and always filled; times go out in the clinic's local time with
their UTC offset, both in SCH-11 (what most feeds read) and TQ1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException

from integrations.ehr.protocol import EhrPatient

STRUCTURE = "SIU_S12"


class SiuEvent(StrEnum):
    NEW = "S12"
    RESCHEDULE = "S13"
    MODIFY = "S14"
    CANCEL = "S15"
    NOSHOW = "S26"


# SCH-25 filler status (HL7 table 0278) and SCH-6 event reason for each event.
FILLER_STATUS = {
    SiuEvent.NEW: "Booked",
    SiuEvent.RESCHEDULE: "Booked",
    SiuEvent.MODIFY: "Booked",
    SiuEvent.CANCEL: "Cancelled",
    SiuEvent.NOSHOW: "Noshow",
}
EVENT_REASON = {
    SiuEvent.NEW: ("NEW", "New appointment booked by phone"),
    SiuEvent.RESCHEDULE: ("RESCHEDULED", "Moved at the patient's request"),
    SiuEvent.MODIFY: ("MODIFIED", "Appointment details changed"),
    SiuEvent.CANCEL: ("CANCELLED", "Cancelled"),
    SiuEvent.NOSHOW: ("NOSHOW", "Patient did not attend"),
}
# SCH-7 appointment reason, HL7 table 0276.
APPOINTMENT_REASONS = ("CHECKUP", "EMERGENCY", "FOLLOWUP", "ROUTINE", "WALKIN")


class MessageInvalid(ValueError):
    """hl7apy refused the message we built (a bug or a bad interface setting)."""


@dataclass(frozen=True)
class Header:
    """MSH-3..6, MSH-11 and MSH-12 of one interface."""

    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    version: str = "2.5.1"
    processing_id: str = "P"


@dataclass(frozen=True)
class SiuAppointment:
    """What one SIU message says about one appointment."""

    placer_id: str  # SCH-1: ours, stable for the appointment's life
    filler_id: str  # SCH-2: the EHR's id when we know it, else ours
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    service_code: str  # AIS-3
    service_name: str
    provider_ref: str  # AIP-3.1
    location: str  # AIL-3.1
    contact: str  # SCH-16 / SCH-20 person id
    appointment_reason: str = "ROUTINE"
    cancel_reason: str | None = None
    patient: EhrPatient | None = None


def escape(value: str) -> str:
    """HL7 escape sequences for the delimiters (``\\`` first, or it would re-escape)."""
    for raw, escaped in (("\\", "\\E\\"), ("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\")):
        value = value.replace(raw, escaped)
    return value.replace("~", "\\R\\")


def hl7_time(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).strftime("%Y%m%d%H%M%S%z")


def _minutes(appointment: SiuAppointment) -> int:
    return int((appointment.ends_at - appointment.starts_at).total_seconds() // 60)


def build_siu(event: SiuEvent, appointment: SiuAppointment, header: Header, control_id: str) -> str:
    """The ER7 text of a validated SIU message (segments separated by ``\\r``)."""
    tz = ZoneInfo(appointment.time_zone)
    start, end = hl7_time(appointment.starts_at, tz), hl7_time(appointment.ends_at, tz)
    minutes = str(_minutes(appointment))
    ns = escape(header.sending_application)
    try:
        message = Message(STRUCTURE, version=header.version)
        msh = message.msh
        msh.msh_3 = escape(header.sending_application)
        msh.msh_4 = escape(header.sending_facility)
        msh.msh_5 = escape(header.receiving_application)
        msh.msh_6 = escape(header.receiving_facility)
        msh.msh_9 = f"SIU^{event.value}^{STRUCTURE}"
        msh.msh_10 = control_id
        msh.msh_11 = header.processing_id
        msh.msh_18 = "UNICODE UTF-8"

        sch = message.sch
        sch.sch_1 = f"{escape(appointment.placer_id)}^{ns}"
        sch.sch_2 = f"{escape(appointment.filler_id)}^{ns}"
        code, text = EVENT_REASON[event]
        if event is SiuEvent.CANCEL and appointment.cancel_reason:
            text = escape(appointment.cancel_reason)
        sch.sch_6 = f"{code}^{text}^L"
        sch.sch_7 = f"{appointment.appointment_reason}^^HL70276"
        sch.sch_8 = "Normal^^HL70277"
        sch.sch_9 = minutes
        sch.sch_10 = "min^minutes^ANS+"
        sch.sch_11 = f"^^{minutes}^{start}^{end}"
        contact = f"{escape(appointment.contact)}^Receptionist^Phone"
        sch.sch_16 = contact
        sch.sch_20 = contact
        sch.sch_25 = f"{FILLER_STATUS[event]}^^HL70278"

        tq1 = message.add_segment("TQ1")
        tq1.tq1_1 = "1"
        tq1.tq1_7 = start
        tq1.tq1_8 = end

        if appointment.patient is not None:
            _patient(message, appointment.patient, ns)

        resources = message.add_group(f"{STRUCTURE}_RESOURCES")
        resources.rgs.rgs_1 = "1"
        resources.rgs.rgs_2 = "A" if event is SiuEvent.NEW else "U"
        service = resources.add_group(f"{STRUCTURE}_SERVICE").ais
        service.ais_1 = "1"
        service.ais_3 = f"{escape(appointment.service_code)}^{escape(appointment.service_name)}^L"
        service.ais_4 = start
        service.ais_7 = minutes
        service.ais_8 = "min^minutes^ANS+"
        location = resources.add_group(f"{STRUCTURE}_LOCATION_RESOURCE").ail
        location.ail_1 = "1"
        location.ail_3 = f"{escape(appointment.location)}^^^{escape(header.sending_facility)}"
        location.ail_6 = start
        personnel = resources.add_group(f"{STRUCTURE}_PERSONNEL_RESOURCE").aip
        personnel.aip_1 = "1"
        personnel.aip_3 = escape(appointment.provider_ref)
        personnel.aip_4 = "PROVIDER^Treating provider^L"
        personnel.aip_6 = start
        personnel.aip_9 = minutes
        personnel.aip_10 = "min^minutes^ANS+"
        message.validate()
    except HL7apyException as exc:
        raise MessageInvalid(f"SIU^{event.value} failed validation: {exc}") from exc
    er7: str = message.to_er7()
    return er7


def _patient(message: Message, patient: EhrPatient, namespace: str) -> None:
    pid = message.add_group(f"{STRUCTURE}_PATIENT").pid
    pid.pid_1 = "1"
    # PID-3 repeats: the EHR's record number first (what it matches on), then ours.
    identifiers = [f"{escape(patient.local_id)}^^^{namespace}^PI"]
    if patient.external_id:
        identifiers.insert(0, f"{escape(patient.external_id)}^^^^MR")
    pid.pid_3 = identifiers[0]
    for identifier in identifiers[1:]:
        pid.add_field("pid_3").value = identifier
    pid.pid_5 = f"{escape(patient.last_name)}^{escape(patient.first_name)}"
    pid.pid_7 = patient.date_of_birth.replace("-", "")
    if patient.phone:
        pid.pid_13 = f"{escape(patient.phone)}^PRN^PH"
