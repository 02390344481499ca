"""Workflow ids: deterministic, PHI-free, and the idempotency key of what they do."""


def booking(clinic_id: str, request_id: str) -> str:
    return f"booking-{clinic_id}-{request_id}"


def cancellation(clinic_id: str, appointment_id: str) -> str:
    return f"cancel-{clinic_id}-{appointment_id}"


def eligibility(clinic_id: str, request_id: str) -> str:
    return f"eligibility-{clinic_id}-{request_id}"


def call(call_sid: str) -> str:
    return f"call-{call_sid}"
