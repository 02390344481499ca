"""Connecting to Temporal, with one data converter for every client and worker."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter

from core.settings import Settings


class TemporalUnavailable(RuntimeError):
    """Temporal could not be reached; the message says how to start it."""


def data_converter() -> DataConverter:
    return pydantic_data_converter


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
