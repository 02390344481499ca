"""Turn latency on the cloud stack at the providers' published latency profile.

    uv run python -m bench.cloud_turn [--quick] [--calls N] [--turns N]

Simulated calls over the real Twilio media WebSocket into the real API, whose clinic uses
Deepgram, Claude and ElevenLabs through their SDKs, pointed at the local protocol servers
(tests/fakes) set to the published profile: STT final ~300 ms after the end of speech, LLM first
token ~600 ms, TTS first byte ~400 ms. For each caller turn the session's own timestamps give
end of speech → first audio sent. Two configurations:

- plain: the agent starts on the final transcript, TTS on the first whole sentence;
- head start: the agent starts speculatively on a paused, stable interim transcript (adopted
  only if the final has the same words) and the first clause goes to TTS on its own.

Figures: median and p95 of end of speech → first audio; the pipeline's overhead beyond the
providers' own time (plain turns: EOS → first audio minus STT final after EOS, LLM request →
first speakable piece, TTS request → first byte; goal ≤ 50 ms); and the head start's median
against the plain sum of the stages (300 + 600 + 400 ms; goal: ≥ 200 ms faster). Every answered
turn is checked to answer the caller's whole utterance.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from bench.common import BenchStack, Row, bench_stack, format_table, median
from bench.report import write_results
from core.clinic_config import EnginesConfig
from core.demo.seed import demo_config, seed_clinic
from core.models import Clinic
from core.settings import Settings
from phonesim.local_api import serve_api
from phonesim.twilio_peer import TwilioPeer
from realtime.audio.codec import silence
from realtime.engines import ClinicEngines
from realtime.session import CallSession, TurnTiming
from realtime.turns import TurnSettings
from stack.devserver import free_port
from tests.fakes.anthropic_api import (
    API_KEY,
    Block,
    FakeAnthropic,
    Latency,
    Text,
    last_caller_text,
)
from tests.fakes.deepgram_api import DeepgramLatency, FakeDeepgram
from tests.fakes.elevenlabs_api import ElevenLabsLatency, FakeElevenLabs
from tests.fakes.speech import tone

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
CLINIC_NUMBER, CALLER_NUMBER = "+12075550100", "+12075550111"
DG_KEY, XI_KEY = "bench-deepgram", "bench-elevenlabs"
STT_MS, LLM_MS, TTS_MS = 300, 600, 400  # the published profile
PLAIN_SUM_MS = STT_MS + LLM_MS + TTS_MS
QUESTION = "What time do you close today?"
ANSWER = "We close at five today, and we open again tomorrow morning at eight."
SPEECH_MS = 1600  # the caller's question: its words are all in the interims well before the end


def brain(body: dict[str, Any]) -> list[Block]:
    said = last_caller_text(body).lower()
    # An unfinished question would be answered differently: the check that none was.
    return [Text(ANSWER if "close today" in said else "Sorry, could you say that again?")]


@dataclass
class Variant:
    name: str
    turns: TurnSettings
    timings: list[TurnTiming] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)


def variants() -> list[Variant]:
    base = TurnSettings(endpointing_ms=STT_MS, idle_reprompt_s=30.0)
    return [
        Variant("plain", replace(base, speculate=False, first_clause_min_words=None)),
        Variant("head start", base),
    ]


def ms(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (a - b) * 1000


def providers_ms(t: TurnTiming) -> float | None:
    """STT final after EOS + LLM request → first piece to TTS + TTS request → first byte."""
    parts = [ms(t.stt_final, t.end_of_speech), ms(t.tts_requested, t.agent_started),
             ms(t.tts_first_byte, t.tts_requested)]  # fmt: skip
    return None if None in parts else sum(p for p in parts if p is not None)


async def until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the call did not get there")
        await asyncio.sleep(0.01)


async def quiet(peer: TwilioPeer, gap_s: float = 0.5) -> None:
    await until(
        lambda: (
            not peer.receptionist_playing
            and time.monotonic() - peer.last_receptionist_audio > gap_s
        )
    )


def answered(session: CallSession, turn: int) -> bool:
    return len(session.timings) > turn and session.timings[turn].first_media is not None


async def one_call(base_url: str, sessions: dict[str, CallSession], turns: int) -> CallSession:
    peer = TwilioPeer(base_url, AUTH_TOKEN, to_number=CLINIC_NUMBER, from_number=CALLER_NUMBER)
    await peer.connect(await peer.dial())
    runner = asyncio.create_task(peer.run())
    try:
        await until(lambda: peer.receptionist_audio_ms > 200)
        await quiet(peer)
        session = sessions[peer.call_sid]
        for turn in range(turns):
            peer.speak(tone(SPEECH_MS) + silence(20))
            await until(functools.partial(answered, session, turn))
            await quiet(peer)
    finally:
        await peer.hang_up()
        await runner
    return session


async def run_variant(
    variant: Variant, stack: BenchStack, urls: dict[str, str], calls: int, turns: int
) -> None:
    port = free_port()
    settings = Settings(
        database_url=stack.db.url.render_as_string(hide_password=False),
        temporal_address=stack.server.address, twilio_auth_token=AUTH_TOKEN,
        public_base_url=f"http://127.0.0.1:{port}", data_dir=Path(tempfile.gettempdir()),
        anthropic_api_key=API_KEY, anthropic_base_url=urls["anthropic"],
        deepgram_api_key=DG_KEY, deepgram_base_url=urls["deepgram"],
        elevenlabs_api_key=XI_KEY, elevenlabs_base_url=urls["elevenlabs"],
    )  # fmt: skip
    async with stack.db.read() as db:
        clinic = await db.get(Clinic, stack.demo.clinic_id)
    assert clinic is not None
    engines = ClinicEngines(settings).for_clinic(clinic)
    async with serve_api(settings, port, engines, variant.turns) as api:
        sessions: dict[str, CallSession] = api.app.state.services.voice.active
        for _ in range(calls):
            session = await one_call(api.base_url, sessions, turns)
            variant.timings.extend(session.timings)
            replies = [m.text for m in session.conversation.messages if m.role == "agent"]
            variant.answers.extend(replies[1:])  # after the greeting


def stage_rows(variant: Variant) -> list[Row]:
    """Where a turn's time goes, stage by stage (ms after the previous mark)."""
    marks = [
        ("agent started after EOS", "end_of_speech", "agent_started"),
        ("LLM first token", "agent_started", "agent_first_event"),
        ("first piece to TTS", "agent_first_event", "tts_requested"),
        ("TTS first byte", "tts_requested", "tts_first_byte"),
        ("first audio sent", "tts_first_byte", "first_media"),
    ]
    return [
        Row.of(
            f"    {name}",
            [
                x
                for t in variant.timings
                if (x := ms(getattr(t, end), getattr(t, start))) is not None
            ],
        )
        for name, start, end in marks
    ]


def rows(plain: Variant, head: Variant) -> list[Row]:
    def eos_to_audio(v: Variant) -> list[float]:
        return [x for t in v.timings if (x := ms(t.first_media, t.end_of_speech)) is not None]

    overhead = [
        total - providers
        for t in plain.timings
        if (total := ms(t.first_media, t.end_of_speech)) is not None
        and (providers := providers_ms(t)) is not None
    ]
    sums = [p for t in plain.timings if (p := providers_ms(t)) is not None]
    head_samples = eos_to_audio(head)
    saved = [PLAIN_SUM_MS - x for x in head_samples]
    return [
        Row.of("EOS -> first audio, plain", eos_to_audio(plain)),
        Row.of("  providers' own time (sum of stages)", sums),
        Row.of("  pipeline overhead beyond the stages", overhead, goal=50),
        Row.of("EOS -> first audio, head start", head_samples),
        Row(
            f"  head start vs plain sum ({PLAIN_SUM_MS} ms), saved",
            len(saved),
            median(saved) if saved else None,
            goal=200,
            goal_stat="median",
            at_least=True,
        ),
        *stage_rows(head),
        Row(
            "  turns answered from the speculative start",
            len(head.timings),
            100.0 * sum(t.speculative for t in head.timings) / max(1, len(head.timings)),
            unit="%",
        ),
    ]


async def benchmark(args: argparse.Namespace) -> int:
    anthropic = FakeAnthropic(brain, latency=Latency(LLM_MS / 1000, token_s=0.012, jitter_s=0.08))
    deepgram = FakeDeepgram(DG_KEY, latency=DeepgramLatency(final_after_speech_s=STT_MS / 1000))
    # Audio shorter than real speech (25 ms a character) keeps the run short; the first byte
    # is the profile's.
    elevenlabs = FakeElevenLabs(
        XI_KEY, ElevenLabsLatency(first_byte_s=TTS_MS / 1000, speed=8.0, ms_per_char=25)
    )
    chosen = variants()
    with anthropic.running() as llm, deepgram.running() as dg, elevenlabs.running() as xi:
        urls = {"anthropic": llm, "deepgram": dg, "elevenlabs": xi}
        async with bench_stack() as stack:
            config = demo_config(date.today())
            config.engines = EnginesConfig(stt="deepgram", agent="claude", tts="elevenlabs")
            config.greeting = "Bright Smile Dental, this is Ava."
            await seed_clinic(stack.db, config)
            for variant in chosen:
                deepgram.say(*[QUESTION] * (args.calls * args.turns))
                await run_variant(variant, stack, urls, args.calls, args.turns)
                print(f"{variant.name}: {len(variant.timings)} turns", file=sys.stderr)
    plain, head = chosen
    table = rows(plain, head)
    unfinished = sum(a != ANSWER for v in chosen for a in v.answers)
    print(
        f"cloud turn latency, published profile: STT final {STT_MS} ms, LLM first token "
        f"{LLM_MS} ms, TTS first byte {TTS_MS} ms (load {os.getloadavg()[0]:.2f} at the end)"
    )
    print(format_table(table))
    print(f"answers to an unfinished or misheard turn: {unfinished}")
    write_results(
        "cloud_turn", table,
        headline=[f"head start median {table[3].median:.0f} ms vs plain sum {PLAIN_SUM_MS} ms"
                  if table[3].median is not None else "no head-start turns"],
        notes=[f"answers to an unfinished turn: {unfinished}"],
    )  # fmt: skip
    return 0 if unfinished == 0 else 1


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=6, help="calls per configuration")
    parser.add_argument("--turns", type=int, default=4, help="caller turns per call")
    parser.add_argument("--quick", action="store_true", help="2 calls x 3 turns (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.turns = 2, 3
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(benchmark(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
