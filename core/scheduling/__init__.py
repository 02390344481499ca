"""The scheduling engine: bookable slots from schedules, and the writes that take them."""

from core.scheduling.holds import (
    ConfirmRequest,
    HoldExpired,
    HoldRequest,
    SlotTaken,
    cancel_appointment,
    confirm_hold,
    expire_holds,
    free_appointment_time,
    hold_of,
    hold_slot,
    release_hold,
)
from core.scheduling.search import (
    DAY_PARTS,
    NotFound,
    NotOffered,
    SchedulingError,
    Slot,
    SlotQuery,
    find_slots,
)

__all__ = [
    "DAY_PARTS",
    "ConfirmRequest",
    "HoldExpired",
    "HoldRequest",
    "NotFound",
    "NotOffered",
    "SchedulingError",
    "Slot",
    "SlotQuery",
    "SlotTaken",
    "cancel_appointment",
    "confirm_hold",
    "expire_holds",
    "find_slots",
    "free_appointment_time",
    "hold_of",
    "hold_slot",
    "release_hold",
]
