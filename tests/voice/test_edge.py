"""The Twilio edge under bad input: forged signatures, reused tokens, unknown numbers,
malformed frames. Each is refused or survived, never a crash."""

import asyncio
import json

import httpx
import pytest
from sqlmodel import select
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from core.db import Database
from core.models import Call
from phonesim.twilio_peer import CallRefused
from realtime.engines import SpeechEngines
from realtime.twilio_edge import UNKNOWN_NUMBER
from tests.fakes.speech import ScriptedAgent, ScriptedStt, ToneTts, say, tone
from tests.voice.test_timeline import quiet, start_call, until


def engines(agent=None, lines=()) -> SpeechEngines:
    agent = agent or ScriptedAgent([say("Okay.")])
    return SpeechEngines(
        stt=ScriptedStt(list(lines)), tts=ToneTts(), agent_factory=lambda _p: agent
    )


async def test_forged_webhook_signature_is_refused(voice, db: Database) -> None:
    async with voice(engines()) as server:
        peer = server.peer()
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{server.base_url}/twilio/voice",
                data={"CallSid": peer.call_sid, "From": "+12075550111", "To": "+12075550100"},
                headers={"X-Twilio-Signature": "forged"},
            )
            unsigned = await client.post(
                f"{server.base_url}/twilio/status", data={"CallSid": peer.call_sid}
            )
    assert response.status_code == 403 and unsigned.status_code == 403
    async with db.read() as session:
        assert (
            await session.exec(select(Call).where(Call.call_sid == peer.call_sid))
        ).first() is None


async def test_unknown_number_hears_a_polite_message(voice) -> None:
    async with voice(engines()) as server:
        peer = server.peer(to_number="+12075559999")
        with pytest.raises(CallRefused) as refused:
            await peer.dial()
    assert UNKNOWN_NUMBER in refused.value.twiml and "<Hangup" in refused.value.twiml


async def test_media_stream_needs_signature_and_a_fresh_token(voice) -> None:
    async with voice(engines()) as server:
        peer = server.peer()
        target = await peer.dial()
        for headers in ({}, {"X-Twilio-Signature": "forged"}):
            with pytest.raises((InvalidStatus, ConnectionClosed)):
                async with connect(target.url, additional_headers=headers) as ws:
                    await ws.recv()
        await peer.connect(target)  # the real one still works: refusals did not use the token
        runner = asyncio.create_task(peer.run())
        await until(lambda: peer.receptionist_audio_ms > 200)
        await peer.hang_up()
        await runner
        replay = server.peer()
        replay.call_sid = peer.call_sid
        with pytest.raises((InvalidStatus, ConnectionClosed)):
            await replay.connect(target)  # a used token never opens a second stream
            await replay._ws.recv()  # type: ignore[union-attr]


async def test_malformed_frames_are_survived(voice) -> None:
    agent = ScriptedAgent([say("Still here and listening.")])
    async with voice(engines(agent, ["are you there"])) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        for bad in (
            "not json",
            "[1, 2, 3]",
            json.dumps({"event": "media", "media": {"payload": "%%%not base64%%%"}}),
            json.dumps({"event": "media"}),
            json.dumps({"event": "dtmf", "dtmf": {"digit": "x"}}),
            json.dumps({"event": "teleport"}),
            json.dumps({"event": "mark", "mark": {"name": "never-sent"}}),
            json.dumps({"event": "start", "start": {}}),
        ):
            await peer.send_raw(bad)
        await peer.send_raw(b"\x00binary")
        await quiet(peer)
        peer.speak(tone(600))
        await until(lambda: agent.seen == ["are you there"])
        await quiet(peer)
        assert not peer.closed.is_set()
        await peer.hang_up()
        await runner


async def test_status_callback_and_stop_make_one_wrap_up(
    voice, db: Database, temporal_client
) -> None:
    async with voice(engines()) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await peer.hang_up()
        await runner
        assert await peer.status("completed", 3) == 204
        assert await peer.status("completed", 3) == 204  # Twilio retries
        handle = temporal_client.get_workflow_handle(f"call-{peer.call_sid}")
        outcome = await handle.result()
    async with db.read() as session:
        calls = (await session.exec(select(Call).where(Call.call_sid == peer.call_sid))).all()
    assert len(calls) == 1 and calls[0].ended_at is not None
    assert outcome["summary"] if isinstance(outcome, dict) else outcome.summary
