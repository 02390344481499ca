"""Connecting to Temporal, with one data converter for every client and worker.

The converter serialises with pydantic, encrypts every payload (``EncryptionCodec``) and moves
failure messages and stack traces into an encoded (so encrypted) attribute: an exception text
that quotes patient details never reaches the server in plaintext.
"""

from __future__ import annotations

import dataclasses

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from core.security.payload_codec import EncryptionCodec
from core.settings import Settings


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached; the message says how to start it."""


def data_converter() -> DataConverter:
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            data_converter=data_converter(),
        )
    except Exception as exc:  # the SDK raises RuntimeError with the transport error text
        raise TemporalUnavailable(
            f"cannot reach Temporal at {settings.temporal_address} ({exc}). Start the local "
            "stack with `receptionist dev`, or just the engine with `receptionist temporal`, "
            "or point TEMPORAL_ADDRESS at your cluster."
        ) from None
