"""End-to-end calls through the offline engines: flite speaks the caller, pocketsphinx hears
them, the RuleAgent answers, Temporal books. Real audio over the real WebSocket edge."""

from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import col, select
from temporalio.client import Client

from core.db import Database
from core.models import (
    Appointment,
    AppointmentStatus,
    Call,
    CallOutcome,
    OutboxMessage,
    TranscriptTurn,
)
from phonesim.scripted_call import CallerLine, place_call
from realtime.engines import offline_engines
from realtime.tts.flite_tts import FliteTTS
from realtime.turns import TurnSettings
from workflows.contracts import WrapUpOutcome

DEMO = [
    "hi i would like to book a teeth cleaning",
    "yes",
    "next tuesday afternoon",
    "the first one",
    "yes please",
    "no that is all thank you",
]


async def test_a_caller_books_a_cleaning_by_voice(
    voice, db: Database, temporal_client: Client, tmp_path: Path
) -> None:
    started = datetime.now(UTC)
    async with voice(offline_engines(), TurnSettings()) as server:
        peer = server.peer()
        result = await place_call(
            peer,
            [CallerLine(t) for t in DEMO],
            FliteTTS(),
            voice="awb",
            wav=tmp_path / "call.wav",
            turn_timeout_s=20,
        )
        outcome = await temporal_client.get_workflow_handle(
            f"call-{peer.call_sid}", result_type=WrapUpOutcome
        ).result()
    async with db.read() as session:
        call = (await session.exec(select(Call).where(Call.call_sid == peer.call_sid))).one()
        turns = (
            await session.exec(
                select(TranscriptTurn)
                .where(TranscriptTurn.call_id == call.id)
                .order_by(col(TranscriptTurn.seq))
            )
        ).all()
        booked = (
            await session.exec(select(Appointment).where(col(Appointment.created_at) >= started))
        ).all()
        sms = (
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.created_at) >= started)
            )
        ).all()
    transcript = "\n".join(f"{t.role}: {t.text}" for t in turns)
    print(transcript)
    assert result.spoken == DEMO, transcript
    assert call.outcome == CallOutcome.BOOKED, transcript
    [appointment] = booked
    assert appointment.status == AppointmentStatus.BOOKED
    assert [m.purpose for m in sms] == ["confirmation"] and sms[0].recipient == "+12075550111"
    assert "booked an appointment" in outcome.summary
    assert (tmp_path / "call.wav").stat().st_size > 100_000
