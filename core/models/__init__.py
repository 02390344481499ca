"""The domain tables. Importing this package registers all of them on ``SQLModel.metadata``."""

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
from core.models.messaging import OutboxMessage, OutboxStatus, StaffTask, StaffTaskStatus
from core.models.patient import Patient
from core.models.security import AuditEvent, Role, User

__all__ = [
    "ACTIVE_APPOINTMENT_STATUSES",
    "Appointment",
    "AppointmentSource",
    "AppointmentStatus",
    "AppointmentType",
    "AppointmentTypeProvider",
    "AuditEvent",
    "Call",
    "CallDirection",
    "CallOutcome",
    "Clinic",
    "ClinicHoliday",
    "ClinicPhoneNumber",
    "CrmNote",
    "EligibilityCheck",
    "HoldStatus",
    "InsuranceCoverage",
    "OutboxMessage",
    "OutboxStatus",
    "Patient",
    "Provider",
    "ProviderSchedule",
    "Role",
    "ScheduleException",
    "SlotClaim",
    "SlotHold",
    "StaffTask",
    "StaffTaskStatus",
    "TranscriptTurn",
    "User",
    "new_id",
    "phi_columns",
    "utcnow",
]
