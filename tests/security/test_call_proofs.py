"""The proofs, after one full simulated phone call that books an appointment.

A seeded patient (Alex Rivera) calls from the number on file, is recognised, books a cleaning by
voice through the offline engines, gets a confirmation SMS, and the call is wrapped up; then an
admin reads the call through the API. Afterwards:

- the raw database (the SQLite file byte for byte, or every PostgreSQL row as text) holds none
  of the patient's details in plaintext, though they are all there, encrypted;
- no Temporal history of the call, fetched by a client without the codec, holds them either,
  though the payloads decrypt to them;
- every PHI read (the voice agent's lookup, the confirmation, the admin's reads) is in the audit
  trail, whose hash chain is intact;
- everything logged during the call, at DEBUG, mentions none of them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from core.db import Database
from core.demo.seed import SeedReport
from core.logging import configure_logging
from core.models import Call, OutboxMessage, Role
from core.security import audit, crypto
from core.security.payload_codec import EncryptionCodec
from phonesim.scripted_call import CallerLine, place_call
from realtime.engines import offline_engines
from realtime.tts.flite_tts import FliteTTS
from realtime.turns import TurnSettings
from stack.devserver import DevServer
from tests.security.dumps import database_dump, histories_since, leaks
from tests.security.phi import ALEX_RIVERA, FIRST, LAST, PHONE
from tests.support.accounts import create_account
from tests.support.voice import serve_voice
from tests.support.workers import running_worker
from workflows.contracts import WrapUpOutcome

LINES = [
    "hi i would like to book a teeth cleaning",
    "yes",
    "next tuesday afternoon",
    "the first one",
    "yes please",
    "no that is all thank you",
]


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything the process logs, as production formats it, at the most verbose level."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    configure_logging("DEBUG", stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _payloads(node: object) -> list[Payload]:
    """Every Payload message inside a history event (inputs, results, failures' details)."""
    found: list[Payload] = []
    if isinstance(node, Payload):
        return [node]
    for descriptor, value in node.ListFields():  # type: ignore[attr-defined]
        if descriptor.message_type is None:
            continue
        if hasattr(value, "ListFields"):  # a single message
            items = [value]
        else:  # a repeated field, or a map (whose values are the messages)
            items = list(value.values()) if hasattr(value, "values") else list(value)
        for item in items:
            found.extend(_payloads(item))
    return found


async def test_a_booked_call_leaves_no_plaintext_phi_and_a_full_audit_trail(
    db: Database, database_url: str, demo: SeedReport, temporal_client: Client,
    temporal_server: DevServer, tmp_path: Path, log_output: io.StringIO,
) -> None:  # fmt: skip
    started = datetime.now(UTC).replace(microsecond=0)
    async with (
        running_worker(temporal_client, db) as prefix,
        serve_voice(
            database_url, temporal_server.address, prefix, tmp_path, offline_engines(),
            TurnSettings(),
        ) as server,
    ):  # fmt: skip
        peer = server.peer()
        result = await place_call(
            peer, [CallerLine(t) for t in LINES], FliteTTS(), voice="awb", turn_timeout_s=20
        )
        outcome = await temporal_client.get_workflow_handle(
            f"call-{peer.call_sid}", result_type=WrapUpOutcome
        ).result()
        async with db.read() as session:
            call = (await session.exec(select(Call).where(Call.call_sid == peer.call_sid))).one()
            sms = (
                await session.exec(
                    select(OutboxMessage).where(OutboxMessage.patient_id == call.patient_id)
                )
            ).all()
        admin = await create_account(db, demo.clinic_id, Role.ADMIN)
        async with httpx.AsyncClient(base_url=server.base_url, headers=admin.headers) as api:
            detail = await api.get(f"/api/clinics/{demo.clinic_id}/calls/{call.id}")
    assert result.spoken == LINES and "booked" in outcome.summary
    # The details are all there, and readable by the application...
    assert call.from_number == PHONE and call.patient_id is not None
    assert [m.recipient for m in sms] == [PHONE]
    assert detail.status_code == 200 and LAST in detail.text

    # ...but not in the database itself.
    dump = database_dump(db, database_url)
    assert crypto.TEXT_PREFIX.encode() in dump
    assert leaks(dump, ALEX_RIVERA) == []

    # Nor in Temporal: every history of the test, fetched without the codec.
    plain_client = await Client.connect(temporal_server.address)
    histories = await histories_since(
        plain_client, f'StartTime >= "{started.isoformat().replace("+00:00", "Z")}"'
    )
    assert f"call-{peer.call_sid}" in histories and len(histories) >= 2
    for workflow_id, history in histories.items():  # memos, search attributes, queues included
        assert leaks(history, ALEX_RIVERA) == [], workflow_id
    assert leaks(" ".join(histories).encode(), ALEX_RIVERA) == []  # and the workflow ids
    wrapup = await plain_client.get_workflow_handle(f"call-{peer.call_sid}").fetch_history()
    sealed = [p for event in wrapup.events for p in _payloads(event)]
    opened = await EncryptionCodec().decode(sealed)
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in sealed)
    assert any(PHONE.encode() in p.data for p in opened)  # it was there, encrypted

    # Every PHI read is in the audit trail, and the chain holds.
    events = await audit.export(db, started, datetime.now(UTC), demo.clinic_id)
    seen = {(e["actor"], e["action"], e["record_type"], e["record_id"]) for e in events}
    assert ("system:voice-agent", "read", "patient", call.patient_id) in seen
    assert ("system:messaging", "disclose", "patient", call.patient_id) in seen
    assert (admin.user_id, "read", "call", call.id) in seen
    assert (admin.user_id, "read", "patient", call.patient_id) in seen
    assert await audit.verify_chain(db) is None

    # And nothing logged mentions the patient.
    logged = log_output.getvalue()
    assert "call answered" in logged and peer.call_sid in logged
    assert leaks(logged.encode(), [*ALEX_RIVERA, FIRST]) == []
