"""AES-256-GCM for Temporal payloads: inputs, results, signals, updates and failure details.

Every payload leaves the process sealed under the keyring's active key, so the Temporal server,
its database and its UI hold ciphertext only. Payloads that are not ours (histories recorded
before the codec existed) pass through decode unchanged, which keeps old histories replayable.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from core.security import crypto

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"


class EncryptionCodec(PayloadCodec):
    """Seals each payload whole (metadata included, so even the encoding is hidden)."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        keyring = crypto.keyring()
        return [
            Payload(
                metadata={"encoding": ENCODING, KEY_ID: keyring.active.encode()},
                data=keyring.encrypt_bytes(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        keyring = crypto.keyring()
        decoded = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                decoded.append(p)
                continue
            decoded.append(Payload.FromString(keyring.decrypt_bytes(p.data)))
        return decoded
