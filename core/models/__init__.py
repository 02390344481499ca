"""The domain tables. Importing this package registers all of them on ``SQLModel.metadata``."""

from core.models.accounts import ApiToken, LoginSession
from core.models.base import new_id, phi_columns, utcnow
from core.models.booking import (
    ACTIVE_APPOINTMENT_STATUSES,
    Appointment,
    AppointmentSource,
    AppointmentStatus,
    HoldStatus,
    SlotClaim,
    SlotHold,
)
from core.models.call import Call, CallDirection, CallOutcome, TranscriptTurn
from core.models.clinic import (
    AppointmentType,
    AppointmentTypeProvider,
    Clinic,
    ClinicHoliday,
    ClinicPhoneNumber,
    Provider,
    ProviderSchedule,
    ScheduleException,
)
from core.models.crm import CrmNote
from core.models.insurance import EligibilityCheck, InsuranceCoverage
from core.models.interfaces import Hl7Message, MessageDirection
from core.models.messaging import OutboxMessage, OutboxStatus, StaffTask, StaffTaskStatus
from core.models.outreach import (
    AttemptStatus,
    Campaign,
    CampaignStatus,
    InboundReply,
    OptOut,
    OutreachAttempt,
    OutreachSettings,
    OutreachTarget,
    SendBucket,
    TargetStatus,
)
from core.models.patient import Patient
from core.models.security import AuditEvent, Role, User

__all__ = [
    "ACTIVE_APPOINTMENT_STATUSES",
    "ApiToken",
    "Appointment",
    "AppointmentSource",
    "AppointmentStatus",
    "AppointmentType",
    "AppointmentTypeProvider",
    "AttemptStatus",
    "AuditEvent",
    "Call",
    "CallDirection",
    "CallOutcome",
    "Campaign",
    "CampaignStatus",
    "Clinic",
    "ClinicHoliday",
    "ClinicPhoneNumber",
    "CrmNote",
    "EligibilityCheck",
    "Hl7Message",
    "HoldStatus",
    "InboundReply",
    "InsuranceCoverage",
    "LoginSession",
    "MessageDirection",
    "OptOut",
    "OutboxMessage",
    "OutboxStatus",
    "OutreachAttempt",
    "OutreachSettings",
    "OutreachTarget",
    "Patient",
    "Provider",
    "ProviderSchedule",
    "Role",
    "ScheduleException",
    "SendBucket",
    "SlotClaim",
    "SlotHold",
    "StaffTask",
    "StaffTaskStatus",
    "TargetStatus",
    "TranscriptTurn",
    "User",
    "new_id",
    "phi_columns",
    "utcnow",
]
