"""Temporal holds ciphertext only: inputs, results and failure messages are sealed by the codec,
a client with the codec reads them back, and old unencrypted histories still decode."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from core.security.payload_codec import EncryptionCodec
from stack.devserver import DevServer
from tests.security.dumps import history_bytes, leaks
from tests.security.phi import ALEX_RIVERA, DATE_OF_BIRTH, LAST, PHONE


@activity.defn
async def look_up(phone: str) -> str:
    raise ApplicationError(f"no patient {LAST} born {DATE_OF_BIRTH} at {phone}", non_retryable=True)


@workflow.defn(sandboxed=False)
class LookUpWorkflow:
    @workflow.run
    async def run(self, phone: str) -> str:
        return await workflow.execute_activity(
            look_up, phone, start_to_close_timeout=timedelta(seconds=10)
        )


async def test_inputs_and_failure_messages_are_sealed(
    temporal_client: Client, temporal_server: DevServer, task_queue: str
) -> None:
    workflow_id = f"codec-{uuid.uuid4().hex[:8]}"
    async with Worker(
        temporal_client, task_queue=task_queue, workflows=[LookUpWorkflow], activities=[look_up]
    ):
        with pytest.raises(WorkflowFailureError) as failed:
            await temporal_client.execute_workflow(
                LookUpWorkflow.run, PHONE, id=workflow_id, task_queue=task_queue
            )
    # The application, holding the key, sees the real message...
    assert PHONE in str(failed.value.cause.cause)
    # ...the server does not: not in the input, not in the error, not in its stack trace.
    plain = await Client.connect(temporal_server.address)
    history = await plain.get_workflow_handle(workflow_id).fetch_history()
    raw = history_bytes(history.to_json())
    assert b"Encoded failure" in raw
    assert leaks(raw, ALEX_RIVERA) == []


async def test_payloads_written_before_the_codec_still_decode() -> None:
    plain = Payload(metadata={"encoding": b"json/plain"}, data=b'"+12075550111"')
    codec = EncryptionCodec()
    [sealed] = await codec.encode([plain])
    assert sealed.metadata["encoding"] == b"binary/encrypted" and b"+1207" not in sealed.data
    assert await codec.decode([sealed, plain]) == [plain, plain]
