"""The embedded messaging transport: the outbox table is the delivery.

The activity records every message in the outbox before any sender runs; with this adapter
nothing leaves the machine, and the demo and the dashboard read messages from there.
"""

from __future__ import annotations

import hashlib
from typing import Any

from integrations.messaging.protocol import OutgoingMessage, SendResult
from integrations.registry import AdapterContext


class OutboxSender:
    def __init__(self, settings: dict[str, Any], context: AdapterContext) -> None:
        pass

    async def send(self, message: OutgoingMessage) -> SendResult:
        digest = hashlib.sha256(message.idempotency_key.encode()).hexdigest()[:24]
        return SendResult(provider_message_id=f"outbox-{digest}")
