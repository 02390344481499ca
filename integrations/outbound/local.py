"""The embedded dialer: no phone network, so every call "reaches voicemail" at once and the
voicemail is what the outbox records. Demos and tests see the whole flow without Twilio."""

from __future__ import annotations

import hashlib
from typing import Any

from integrations.outbound.protocol import OutboundCall, PlacedCall
from integrations.registry import AdapterContext


class LocalDialer:
    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        self.played: list[tuple[str, str]] = []

    async def place(self, call: OutboundCall) -> PlacedCall:
        digest = hashlib.sha256(call.answer_url.encode()).hexdigest()[:32]
        return PlacedCall(call_sid=f"CA{digest}", simulated="voicemail")

    async def play(self, call_sid: str, twiml: str) -> None:
        self.played.append((call_sid, twiml))
