"""Acknowledgements: reading the EHR's ACK to our messages, and writing ours to the PMS.

Original-mode codes: AA accepted, AE application error, AR rejected (MSA-1); MSA-2 echoes the
message's control id (MSH-10). An ERR segment says why: ERR-3 is the HL7 error code (table
0357), ERR-5 an application error code (e.g. ``SLOT_TAKEN``, see docs/integrations.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum

import hl7
from hl7apy.core import Message

from integrations.ehr.hl7 import er7
from integrations.ehr.hl7.messages import escape

SUPPORTED_ACK_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8")


class ErrorCode(IntEnum):
    """HL7 table 0357 (message error condition codes) as used in ERR-3."""

    SEGMENT_SEQUENCE = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE_ERROR = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    DUPLICATE_KEY = 205
    RECORD_LOCKED = 206
    INTERNAL_ERROR = 207


ERROR_TEXT = {
    ErrorCode.SEGMENT_SEQUENCE: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE_ERROR: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY: "Duplicate key identifier",
    ErrorCode.RECORD_LOCKED: "Application record locked",
    ErrorCode.INTERNAL_ERROR: "Application internal error",
}


class AckUnreadable(ValueError):
    """The reply is not an ACK we can read (no MSA, wrong control id)."""


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1
    control_id: str  # MSA-2
    text: str = ""  # MSA-3 (no PHI expected, but never logged)
    hl7_error: str = ""  # ERR-3.1
    application_error: str = ""  # ERR-5.1

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(code for code in (self.application_error, self.hl7_error) if code)


def parse_ack(text: str, expected_control_id: str) -> Ack:
    try:
        message = er7.parse(text)
        message.segment("MSA")
    except (KeyError, ValueError, hl7.ParseException) as exc:
        raise AckUnreadable("the reply has no MSA segment") from exc
    ack = Ack(
        code=er7.value(message, "MSA", 1).upper(),
        control_id=er7.value(message, "MSA", 2),
        text=er7.value(message, "MSA", 3),
        hl7_error=er7.value(message, "ERR", 3),
        application_error=er7.value(message, "ERR", 5),
    )
    if ack.code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
        raise AckUnreadable("the reply's MSA-1 is not an acknowledgement code")
    if ack.control_id != expected_control_id:
        raise AckUnreadable("the reply acknowledges another message")
    return ack


@dataclass(frozen=True)
class Received:
    """The MSH facts an ACK echoes, read leniently (the message may be malformed)."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    trigger: str = ""
    control_id: str = ""
    processing_id: str = "P"
    version: str = ""


def build_ack(
    received: Received,
    code: str,
    *,
    error: ErrorCode | None = None,
    error_location: str = "",
    application_error: str = "",
    text: str = "",
) -> str:
    """An original-mode ACK for ``received``: sender and receiver swapped, MSA-2 echoing its
    control id, and an ERR segment when ``error`` is given."""
    version = received.version if received.version in SUPPORTED_ACK_VERSIONS else "2.5.1"
    message = Message("ACK", version=version)
    msh = message.msh
    msh.msh_3 = escape(received.receiving_application)
    msh.msh_4 = escape(received.receiving_facility)
    msh.msh_5 = escape(received.sending_application)
    msh.msh_6 = escape(received.sending_facility)
    msh.msh_7 = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    msh.msh_9 = f"ACK^{escape(received.trigger)}^ACK" if received.trigger else "ACK"
    # Our ACK's own control id: derived from theirs, so a re-sent message gets the same ACK.
    msh.msh_10 = f"A{escape(received.control_id)}"[:20] if received.control_id else "ANONE"
    msh.msh_11 = received.processing_id if received.processing_id in ("P", "T", "D") else "P"
    msa = message.msa
    msa.msa_1 = code
    msa.msa_2 = escape(received.control_id)
    if text:
        msa.msa_3 = escape(text)
    if error is not None:
        err = message.add_segment("ERR")
        if error_location:
            err.err_2 = error_location
        err.err_3 = f"{int(error)}^{ERROR_TEXT[error]}^HL70357"
        err.err_4 = "E"
        if application_error:
            err.err_5 = f"{escape(application_error)}^^L"
        if text:
            err.err_8 = escape(text)
    result: str = message.to_er7()
    return result
