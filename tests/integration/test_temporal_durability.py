"""The local engine keeps workflows across a restart: our dev-server setup is durable."""

import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import workflow
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

# The sandbox re-imports this module for TimerWorkflow: pass the I/O modules through.
with workflow.unsafe.imports_passed_through():
    from core.temporal import data_converter
    from stack.devserver import DevServer, free_port


@workflow.defn
class TimerWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        await workflow.sleep(timedelta(seconds=seconds))
        return "woke up"


async def test_workflow_with_timer_survives_a_server_restart(
    temporal_binary: Path, tmp_path: Path
) -> None:
    server = DevServer(
        temporal_binary, tmp_path / "temporal.db", port=free_port(), ui_port=None,
        log_file=tmp_path / "temporal.log",
    )  # fmt: skip
    task_queue = f"tq-{uuid.uuid4().hex[:8]}"
    workflow_id = f"durable-{uuid.uuid4().hex[:8]}"
    server.start()
    try:
        await server.wait_ready()
        client = await Client.connect(server.address, data_converter=data_converter())
        await client.start_workflow(TimerWorkflow.run, 3.0, id=workflow_id, task_queue=task_queue)
        # Crash the server while the timer is pending (no worker has even run it yet).
        server.stop(kill=True)

        server.start()
        await server.wait_ready()
        client = await Client.connect(server.address, data_converter=data_converter())
        handle = client.get_workflow_handle(workflow_id)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        async with Worker(client, task_queue=task_queue, workflows=[TimerWorkflow]):
            assert await handle.result() == "woke up"
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    finally:
        server.stop()
    assert (tmp_path / "temporal.db").stat().st_size > 0
