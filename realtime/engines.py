"""Which speech and conversation engines a call uses.

The embedded defaults are offline — pocketsphinx with a clinic language model, flite, and the
RuleAgent — and cloud engines (Deepgram, ElevenLabs, Claude) are chosen when configured.
The language model is built per clinic from its vocabulary and patients, and cached.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlmodel import select

from core.db import Database
from core.models import Patient
from realtime.agent.failover import FailoverAgent
from realtime.agent.protocol import Agent, ClinicProfile
from realtime.stt.protocol import SpeechToText, SttStream, Vocabulary
from realtime.tts.protocol import TextToSpeech


@dataclass
class SpeechEngines:
    stt: SpeechToText
    tts: TextToSpeech
    tts_fallback: TextToSpeech | None = None
    # The engine's score below which its transcripts are usually wrong (see Listener).
    stt_confidence_floor: float = 0.5
    # Answers when the primary agent stalls or fails (None: no fallback, as for the RuleAgent).
    fallback_agent_factory: Callable[[ClinicProfile], Agent] | None = None
    agent_stall_s: float = 2.0
    agent_factory: Callable[[ClinicProfile], Agent] = field(default_factory=lambda: rule_agent)

    async def open_stt(self, db: Database, profile: ClinicProfile) -> SttStream:
        async with db.read() as session:
            names = [
                (first, last)
                for first, last in (
                    await session.exec(
                        select(Patient.first_name, Patient.last_name).where(
                            Patient.clinic_id == profile.clinic_id
                        )
                    )
                ).all()
            ]
        return await self.stt.open(Vocabulary.from_profile(profile, names))

    def agent(
        self, profile: ClinicProfile, on_failover: Callable[[str], None] | None = None
    ) -> Agent:
        primary = self.agent_factory(profile)
        if self.fallback_agent_factory is None:
            return primary
        return FailoverAgent(
            primary,
            self.fallback_agent_factory(profile),
            stall_s=self.agent_stall_s,
            on_failover=on_failover,
        )


def rule_agent(profile: ClinicProfile) -> Agent:
    from realtime.agent.rule import RuleAgent

    return RuleAgent()


def offline_engines() -> SpeechEngines:
    from realtime.stt.pocketsphinx_stt import PocketsphinxSTT
    from realtime.tts.flite_tts import EspeakTTS, FliteTTS

    # pocketsphinx's utterance posteriors are low even when right ("yes" ≈ 0.2, measured).
    return SpeechEngines(
        stt=PocketsphinxSTT(), tts=FliteTTS(), tts_fallback=EspeakTTS(), stt_confidence_floor=0.1
    )
