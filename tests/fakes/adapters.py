"""External systems that misbehave on purpose: an EHR that refuses or stalls, an SMS gateway
that fails before it succeeds. They replace the remote side, never our own code."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from integrations.ehr.local import LocalEhr
from integrations.ehr.protocol import EhrAppointment, EhrBooking
from integrations.eligibility.protocol import EligibilityRequest, EligibilityResult
from integrations.errors import PermanentError, TransientError
from integrations.messaging.protocol import OutgoingMessage, SendResult
from integrations.registry import AdapterContext


class RefusingEhr(LocalEhr):
    """Refuses every booking, as an EHR that rejects the appointment would."""

    async def book(self, booking: EhrBooking) -> EhrAppointment:
        raise PermanentError("EHR answered HTTP 422", code="http_422")

    async def reschedule(self, external_id: str, booking: EhrBooking) -> EhrAppointment:
        raise PermanentError("EHR answered HTTP 422", code="http_422")


class FlakyEhr(LocalEhr):
    """Unavailable for the first ``failures`` calls of each booking, then fine."""

    failures = 2

    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        super().__init__(settings, context)
        self.attempts: dict[str, int] = {}

    async def book(self, booking: EhrBooking) -> EhrAppointment:
        self.attempts[booking.booking_key] = self.attempts.get(booking.booking_key, 0) + 1
        if self.attempts[booking.booking_key] <= self.failures:
            raise TransientError("EHR answered HTTP 503", code="http_503")
        return await super().book(booking)


class FlakySms:
    """An SMS gateway that fails twice, then delivers; records what it delivered."""

    def __init__(self, failures: int = 2) -> None:
        self.failures = failures
        self.calls = 0
        self.delivered: list[OutgoingMessage] = []

    def factory(self) -> Callable[[dict[str, Any], AdapterContext], FlakySms]:
        return lambda settings, context: self

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise TransientError("SMS gateway answered HTTP 503", code="http_503")
        self.delivered.append(message)
        return SendResult(provider_message_id=f"SM{len(self.delivered):032d}")


class SlowEligibility:
    """A payer that takes ``delay`` seconds to answer 'active'."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def factory(self) -> Callable[[dict[str, Any], AdapterContext], SlowEligibility]:
        return lambda settings, context: self

    async def check(self, request: EligibilityRequest) -> EligibilityResult:
        await asyncio.sleep(self.delay)
        return EligibilityResult(status="active", payer=request.payer, plan_name="Slow Plan PPO")
