"""Timeline tests: the real edge, session and timers, with scripted speech providers."""

import asyncio
import time

from sqlmodel import select

from core.db import Database
from core.models import Call, TranscriptTurn
from phonesim.twilio_peer import TwilioPeer
from realtime.engines import SpeechEngines
from realtime.session import IDLE_GOODBYE, STILL_THERE
from tests.fakes.speech import ScriptedAgent, ScriptedStt, ToneTts, say, tone


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def start_call(server) -> tuple[TwilioPeer, asyncio.Task]:
    peer = server.peer()
    await peer.connect(await peer.dial())
    return peer, asyncio.create_task(peer.run())


async def test_greeting_then_a_turn_is_heard(voice, db: Database) -> None:
    stt, tts = ScriptedStt(["hello there"]), ToneTts()
    agent = ScriptedAgent([say("Hi, how can I help you today?")])
    async with voice(SpeechEngines(stt=stt, tts=tts, agent_factory=lambda _p: agent)) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 500)  # the greeting plays
        await until(
            lambda: (
                not peer.receptionist_playing
                and time.monotonic() - peer.last_receptionist_audio > 0.3
            )
        )
        heard_before = peer.receptionist_audio_ms
        peer.speak(tone(700))
        await until(lambda: peer.receptionist_audio_ms > heard_before + 500)
        await peer.hang_up()
        await runner
    assert tts.spoken[0].startswith("Thanks for calling Bright Smile Dental, this is Ava.")
    assert agent.seen == ["hello there"]
    assert "Hi, how can I help you today?" in " ".join(tts.spoken[1:])
    assert peer.stats.marks_echoed > 10 and peer.stats.clears == 0
    async with db.read() as session:
        call = (await session.exec(select(Call).where(Call.call_sid == peer.call_sid))).one()
        turns = (
            await session.exec(select(TranscriptTurn).where(TranscriptTurn.call_id == call.id))
        ).all()
    assert [t.role for t in sorted(turns, key=lambda t: t.seq)][:3] == ["agent", "caller", "agent"]


async def quiet(peer: TwilioPeer, seconds: float = 0.3) -> None:
    await until(
        lambda: (
            not peer.receptionist_playing
            and time.monotonic() - peer.last_receptionist_audio > seconds
        )
    )


LONG = (
    "Let me tell you about all of our services, we offer cleanings, exams, fillings, crowns, "
    "whitening and emergency visits, and we are open five days a week with evening hours on Wednesday."
)


async def test_barge_in_clears_and_truncates_to_what_was_heard(voice) -> None:
    stt, tts = ScriptedStt(["tell me everything", "wait can i book thursday"]), ToneTts()
    agent = ScriptedAgent([say(LONG), say("Sure, Thursday it is.")])
    async with voice(SpeechEngines(stt=stt, tts=tts, agent_factory=lambda _p: agent)) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await quiet(peer)
        peer.speak(tone(600))
        before = peer.receptionist_audio_ms
        await until(lambda: peer.receptionist_audio_ms > before + 1200)  # well into the long answer
        peer.speak(tone(900))
        await until(lambda: peer.stats.clears >= 1)
        await until(lambda: len(agent.seen) == 2)
        session = server.sessions.active[peer.call_sid]
        await quiet(peer)
        await peer.hang_up()
        await runner
    onset_to_clear = peer.stats.clear_times[0] - peer.stats.speech_starts[-1]
    assert onset_to_clear < 0.5
    long_answer = [m for m in session.conversation.messages if m.role == "agent"][1]
    assert long_answer.interrupted
    assert 0 < len(long_answer.text) < len(LONG)
    assert LONG.startswith(long_answer.text.rstrip(".,"))
    assert agent.seen[1] == "wait can i book thursday"


async def test_backchannel_does_not_interrupt(voice) -> None:
    stt, tts = ScriptedStt(["tell me everything", "mm hmm"]), ToneTts()
    agent = ScriptedAgent([say(LONG)])
    async with voice(SpeechEngines(stt=stt, tts=tts, agent_factory=lambda _p: agent)) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await quiet(peer)
        peer.speak(tone(600))
        before = peer.receptionist_audio_ms
        await until(lambda: peer.receptionist_audio_ms > before + 1000)
        peer.speak(tone(200))  # a short "mm-hm"
        await quiet(peer, 0.6)
        session = server.sessions.active[peer.call_sid]
        await peer.hang_up()
        await runner
    long_answer = [m for m in session.conversation.messages if m.role == "agent"][1]
    assert not long_answer.interrupted and long_answer.text == LONG
    assert agent.seen == ["tell me everything"]  # the backchannel started no new turn
    words = len(LONG.split())
    assert peer.receptionist_audio_ms - before >= words * 150 - 100  # the whole answer played


async def test_idle_reprompt_then_polite_hang_up(voice, db: Database) -> None:
    tts = ToneTts()
    async with voice(
        SpeechEngines(stt=ScriptedStt([]), tts=tts, agent_factory=lambda _p: ScriptedAgent([]))
    ) as server:
        peer, runner = await start_call(server)
        await asyncio.wait_for(peer.closed.wait(), 15)
        await runner
        telephony = server.app.state.services.telephony
    said = " ".join(tts.spoken)
    assert STILL_THERE in said and IDLE_GOODBYE in said
    assert said.index(STILL_THERE) < said.index(IDLE_GOODBYE)
    assert telephony.hangups == [peer.call_sid]


async def test_stalled_stt_falls_back_to_the_interim_transcript(voice) -> None:
    stt = ScriptedStt(["i need a cleaning"], stall={0})
    agent = ScriptedAgent([say("Happy to help with a cleaning.")])
    async with voice(
        SpeechEngines(stt=stt, tts=ToneTts(), agent_factory=lambda _p: agent)
    ) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await quiet(peer)
        peer.speak(tone(600))
        await until(lambda: agent.seen == ["i need a cleaning"], timeout=6)
        await peer.hang_up()
        await runner


async def test_low_confidence_asks_to_repeat(voice) -> None:
    stt, tts = ScriptedStt(["mumble mumble"], confidence={0: 0.2}), ToneTts()
    agent = ScriptedAgent([])
    async with voice(SpeechEngines(stt=stt, tts=tts, agent_factory=lambda _p: agent)) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await quiet(peer)
        peer.speak(tone(600))
        await until(lambda: "Sorry, could you say that again?" in tts.spoken)
        await peer.hang_up()
        await runner
    assert agent.seen == []


async def test_dtmf_zero_transfers_to_the_front_desk(voice) -> None:
    tts = ToneTts()
    async with voice(
        SpeechEngines(stt=ScriptedStt([]), tts=tts, agent_factory=lambda _p: ScriptedAgent([]))
    ) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await peer.send_dtmf("0")
        await asyncio.wait_for(peer.closed.wait(), 10)
        await runner
        telephony = server.app.state.services.telephony
    assert telephony.transfers == [(peer.call_sid, "+12075550101")]
    assert any("front desk" in line for line in tts.spoken)


class StallingAgent:
    """A provider that never answers (an LLM stuck past its deadline)."""

    async def respond(self, conversation):
        await asyncio.sleep(3600)
        yield  # pragma: no cover


async def test_stalled_agent_fails_over_to_the_fallback(voice) -> None:
    fallback = ScriptedAgent([say("Sorry for the wait, how can I help?")])
    engines = SpeechEngines(
        stt=ScriptedStt(["hello"]), tts=ToneTts(), agent_factory=lambda _p: StallingAgent(),
        fallback_agent_factory=lambda _p: fallback, agent_stall_s=0.5,
    )  # fmt: skip
    async with voice(engines) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await quiet(peer)
        peer.speak(tone(600))
        await until(lambda: fallback.seen == ["hello"], timeout=5)
        session = server.sessions.active[peer.call_sid]
        await quiet(peer)
        await peer.hang_up()
        await runner
    assert session.failovers == ["agent:stall"]


async def test_max_call_duration_ends_the_call_politely(voice, db: Database) -> None:
    from core.models import Clinic
    from realtime.session import MAX_DURATION

    async with db.write() as session:
        clinic = (await session.exec(select(Clinic))).one()
        clinic.max_call_seconds = 3  # below what configuration allows, to keep the test short
        session.add(clinic)
    tts = ToneTts()
    stt = ScriptedStt(["tell me everything"])
    agent = ScriptedAgent([say(LONG)])
    async with voice(SpeechEngines(stt=stt, tts=tts, agent_factory=lambda _p: agent)) as server:
        peer, runner = await start_call(server)
        await until(lambda: peer.receptionist_audio_ms > 300)
        await quiet(peer)
        peer.speak(tone(600))
        await asyncio.wait_for(peer.closed.wait(), 20)
        await runner
        telephony = server.app.state.services.telephony
    said = " ".join(tts.spoken)
    assert MAX_DURATION.split(".")[0] in said
    assert telephony.hangups == [peer.call_sid]
    assert peer.stats.clears >= 1  # the long answer was cut off for the goodbye
