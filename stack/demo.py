"""A scripted call into the running stack, printed as it happens.

The caller's lines are synthesised offline and sent over the simulated phone network; the
conversation is printed live from the transcript the voice loop writes, then the outcome:
the appointment, the SMS in the outbox and the Temporal workflow ids. A stereo WAV of the call
(caller left, receptionist right) is saved in the data directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from core.db import Database
from core.models import (
    Appointment,
    AppointmentType,
    Call,
    Clinic,
    ClinicPhoneNumber,
    OutboxMessage,
    Provider,
    TranscriptTurn,
)
from core.security import recordings
from core.settings import Settings
from core.temporal import connect
from durable import ids
from phonesim.scripted_call import CallerLine, place_call
from phonesim.twilio_peer import TwilioPeer
from realtime.tts.flite_tts import FliteTTS
from realtime.twilio_security import auth_token
from workflows.contracts import WrapUpOutcome

DEMO_CALLER = "+12075550111"  # Alex Rivera, a seeded (synthetic) patient
CALLER_VOICE = "awb"
DEMO_LINES = [
    "hi i would like to book a teeth cleaning",
    "yes",
    "next tuesday afternoon",
    "the first one",
    "yes please",
    "no that is all thank you",
]


async def _print_live(db: Database, call_sid: str, done: asyncio.Event) -> None:
    printed = 0
    while True:
        async with db.read() as session:
            call = (await session.exec(select(Call).where(Call.call_sid == call_sid))).first()
            turns = (
                (
                    await session.exec(
                        select(TranscriptTurn)
                        .where(TranscriptTurn.call_id == call.id)
                        .order_by(col(TranscriptTurn.seq))
                    )
                ).all()
                if call
                else []
            )
        for turn in turns[printed:]:
            who = "Receptionist" if turn.role == "agent" else "Caller      "
            cut = " [interrupted]" if turn.interrupted else ""
            print(f"  {who}: {turn.text}{cut}", flush=True)
        printed = max(printed, len(turns))
        if done.is_set():
            return
        await asyncio.sleep(0.25)


async def run_call(settings: Settings, lines: list[str], *, from_number: str = DEMO_CALLER) -> int:
    db = Database(settings.resolved_database_url)
    try:
        async with db.read() as session:
            number = (await session.exec(select(ClinicPhoneNumber))).first()
        if number is None:
            print("No clinic has a phone number; run `receptionist seed` first.")
            return 2
        api = f"http://{settings.api_host}:{settings.api_port}"
        peer = TwilioPeer(api, auth_token(settings), to_number=number.e164, from_number=from_number)
        wav = Path(tempfile.mkdtemp(prefix="call-")) / "call.wav"  # kept only sealed (_seal)
        print(f"\nCalling {number.e164} from {from_number} (call {peer.call_sid})...", flush=True)
        started = datetime.now(UTC)
        done = asyncio.Event()
        live = asyncio.create_task(_print_live(db, peer.call_sid, done))
        try:
            result = await place_call(
                peer, [CallerLine(text) for text in lines], FliteTTS(), voice=CALLER_VOICE, wav=wav
            )
        finally:
            await asyncio.sleep(0.6)
            done.set()
            await live
        sealed = _seal(settings, peer.call_sid, wav)
        await _print_outcome(settings, db, peer.call_sid, started, sealed)
        return 0 if result.spoken else 1
    finally:
        await db.dispose()


def _seal(settings: Settings, call_sid: str, wav: Path) -> Path:
    """Move the call's WAV into the encrypted recording store; no plaintext copy remains."""
    try:
        return recordings.store(settings.data_dir, call_sid, wav.read_bytes())
    finally:
        shutil.rmtree(wav.parent, ignore_errors=True)


async def _print_outcome(
    settings: Settings, db: Database, call_sid: str, started: datetime, wav: Path
) -> None:
    client = await connect(settings)
    handle = client.get_workflow_handle(ids.call(call_sid), result_type=WrapUpOutcome)
    outcome: WrapUpOutcome | None = None
    with contextlib.suppress(Exception):
        outcome = await asyncio.wait_for(handle.result(), 60)
    async with db.read() as session:
        call = (await session.exec(select(Call).where(Call.call_sid == call_sid))).first()
        booked = (
            await session.exec(
                select(Appointment, Provider.name, AppointmentType.name, Clinic.time_zone)
                .join(Provider, col(Provider.id) == Appointment.provider_id)
                .join(AppointmentType, col(AppointmentType.id) == Appointment.appointment_type_id)
                .join(Clinic, col(Clinic.id) == Appointment.clinic_id)
                .where(col(Appointment.created_at) >= started)
            )
        ).all()
        await asyncio.sleep(1.0)  # the confirmation SMS follows the booking by a moment
        messages = (
            await session.exec(
                select(OutboxMessage).where(col(OutboxMessage.created_at) >= started)
            )
        ).all()
    print("\nOutcome", flush=True)
    print(f"  call outcome:    {call.outcome if call else 'unknown'}")
    if outcome is not None:
        print(f"  summary:         {outcome.summary}")
    for appointment, provider, kind, zone in booked:
        when = appointment.starts_at.astimezone(ZoneInfo(zone)).strftime("%A %B %d at %I:%M %p")
        print(f"  appointment:     {kind} with {provider} on {when} [{appointment.status}]")
    for message in messages:
        print(f"  outbox {message.channel}:      to {message.recipient}: {message.body}")
    workflow_ids = [ids.call(call_sid), *(call.workflow_ids if call else [])]
    print(f"  workflows:       {', '.join(workflow_ids)}")
    print(f"  recording:       {wav} (encrypted; play it from the dashboard)")
    print(
        f"  Temporal UI:     http://127.0.0.1:{settings.temporal_ui_port}/namespaces/default/workflows\n"
    )
