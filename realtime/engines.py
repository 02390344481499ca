"""Which speech and conversation engines a call uses, per clinic.

The embedded defaults are offline — pocketsphinx with a clinic language model, flite, and the
RuleAgent. A clinic's ``engines`` configuration picks cloud engines (Deepgram, Claude,
ElevenLabs); their keys and base URLs come from the process settings, and a cloud engine whose
key is missing falls back to the embedded one (logged loudly, once). The language model is
built per clinic from its vocabulary and patients, and cached.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from sqlmodel import select

from core.clinic_config import EnginesConfig, clinic_engines
from core.db import Database
from core.models import Clinic, Patient
from core.settings import Settings
from realtime.agent.failover import FailoverAgent, TransferAgent
from realtime.agent.protocol import Agent, ClinicProfile
from realtime.stt.failover import open_with_failover
from realtime.stt.protocol import SpeechToText, SttStream, Vocabulary
from realtime.tts.protocol import TextToSpeech

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

    from realtime.stt.deepgram_stt import DeepgramSTT

log = logging.getLogger(__name__)


@dataclass
class SpeechEngines:
    stt: SpeechToText
    tts: TextToSpeech
    tts_fallback: TextToSpeech | None = None
    # Takes over the call's recognition if the primary cannot connect or fails for good.
    stt_fallback: SpeechToText | None = None
    stt_fallback_confidence_floor: float = 0.5  # its transcripts are rescaled onto the primary's
    # A recogniser with its own endpointing ends the caller's turn at the same silence.
    endpointing_ms: int | None = None
    # The engine's score below which its transcripts are usually wrong (see Listener).
    stt_confidence_floor: float = 0.5
    # Answers when the primary agent stalls or fails (None: no fallback, as for the RuleAgent).
    fallback_agent_factory: Callable[[ClinicProfile], Agent] | None = None
    agent_stall_s: float = 2.0
    agent_factory: Callable[[ClinicProfile], Agent] = field(default_factory=lambda: rule_agent)

    def for_clinic(self, clinic: Clinic) -> SpeechEngines:
        """Fixed engines serve every clinic alike (tests, benchmarks, embedding)."""
        return self

    async def open_stt(
        self,
        db: Database,
        profile: ClinicProfile,
        on_failover: Callable[[str], None] | None = None,
    ) -> SttStream:
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
        vocabulary = Vocabulary.from_profile(profile, names)
        return await open_with_failover(
            self.stt, self.stt_fallback, vocabulary, on_failover,
            primary_floor=self.stt_confidence_floor,
            fallback_floor=self.stt_fallback_confidence_floor,
        )  # fmt: skip

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


class EngineChoice(Protocol):
    """Picks the engines of a clinic's calls."""

    def for_clinic(self, clinic: Clinic) -> SpeechEngines: ...


def transfer_agent(profile: ClinicProfile) -> Agent:
    return TransferAgent()


FALLBACK_AGENTS: dict[str, Callable[[ClinicProfile], Agent]] = {
    "rule_agent": rule_agent,
    "transfer": transfer_agent,
}


class ClinicEngines:
    """Engines from each clinic's ``engines`` configuration and the process settings.

    Provider clients are created once per process and shared by every call (warm connection
    pools); the engines of a configuration are built on its first call and reused.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._built: dict[str, SpeechEngines] = {}
        self._offline: SpeechEngines | None = None
        self._anthropic: AsyncAnthropic | None = None
        self._stt: DeepgramSTT | None = None
        self._tts: dict[str, TextToSpeech] = {}
        self._warned: set[str] = set()

    def for_clinic(self, clinic: Clinic) -> SpeechEngines:
        choice = clinic_engines(clinic)
        key = choice.model_dump_json()
        if key not in self._built:
            self._built[key] = self._build(choice)
        return self._built[key]

    def _missing(self, engine: str, setting: str) -> None:
        if engine not in self._warned:
            self._warned.add(engine)
            log.error(
                "cloud engine configured without credentials: using the embedded default",
                extra={"engine": engine, "setting": setting},
            )

    def _offline_engines(self) -> SpeechEngines:
        if self._offline is None:
            self._offline = offline_engines()
        return self._offline

    def _build(self, choice: EnginesConfig) -> SpeechEngines:
        offline = engines = self._offline_engines()
        if choice.stt == "deepgram" and (stt := self._deepgram()) is not None:
            # Deepgram's confidences are calibrated: 0.5 means what it says.
            engines = replace(
                engines, stt=stt, stt_fallback=offline.stt, stt_confidence_floor=0.5,
                stt_fallback_confidence_floor=offline.stt_confidence_floor,
                endpointing_ms=stt.options.endpointing_ms,
            )  # fmt: skip
        if choice.tts == "elevenlabs" and (tts := self._elevenlabs(choice)) is not None:
            engines = replace(engines, tts=tts, tts_fallback=offline.tts)
        if choice.agent == "claude":
            engines = self._with_claude(engines, choice)
        return engines

    def _deepgram(self) -> DeepgramSTT | None:
        if self._stt is None:
            from realtime.stt.deepgram_stt import DeepgramSTT

            settings = self._settings
            if not settings.deepgram_api_key:
                self._missing("deepgram", "DEEPGRAM_API_KEY")
                return None
            self._stt = DeepgramSTT(
                settings.deepgram_api_key, settings.deepgram_base_url, settings.deepgram_model
            )
        return self._stt

    def _elevenlabs(self, choice: EnginesConfig) -> TextToSpeech | None:
        from realtime.tts.elevenlabs_tts import ElevenLabsTTS

        settings = self._settings
        if not settings.elevenlabs_api_key:
            self._missing("elevenlabs", "ELEVENLABS_API_KEY")
            return None
        # One client (and warm socket pool) per pronunciation set; most clinics share one.
        key = json.dumps(
            [choice.pronunciations, [d.model_dump() for d in choice.pronunciation_dictionaries]],
            sort_keys=True,
        )
        if key not in self._tts:
            self._tts[key] = ElevenLabsTTS(
                api_key=settings.elevenlabs_api_key,
                voice_id=settings.elevenlabs_voice_id,
                base_url=settings.elevenlabs_base_url,
                model_id=settings.elevenlabs_model_id,
                pronunciations=dict(choice.pronunciations),
                pronunciation_dictionaries=[
                    (d.id, d.version_id) for d in choice.pronunciation_dictionaries
                ],
            )
        return self._tts[key]

    def _with_claude(self, engines: SpeechEngines, choice: EnginesConfig) -> SpeechEngines:
        from realtime.agent.claude import ClaudeAgent, ClaudeOptions

        settings = self._settings
        client = self.anthropic()
        if client is None:
            return engines
        options = ClaudeOptions(
            model=choice.claude_model or settings.claude_model,
            max_tokens=choice.claude_max_tokens or settings.claude_max_tokens,
            turn_budget_s=settings.claude_turn_budget_s,
            first_token_timeout_s=settings.claude_first_token_timeout_s,
            max_retry_after_s=settings.claude_max_retry_after_s,
        )
        return replace(
            engines,
            agent_factory=lambda _profile: ClaudeAgent(client, options),
            fallback_agent_factory=FALLBACK_AGENTS[choice.on_llm_failure],
            # A backstop behind the agent's own budget, which fails over with a clearer reason.
            agent_stall_s=settings.claude_turn_budget_s + 0.3,
        )

    async def aclose(self) -> None:
        """Close the shared provider clients (warm TTS sockets, HTTP pools) at shutdown."""
        for tts in self._tts.values():
            close = getattr(tts, "aclose", None)
            if close is not None:
                await close()
        if self._anthropic is not None:
            await self._anthropic.close()

    def anthropic(self) -> AsyncAnthropic | None:
        """The process's Claude client, or None (logged once) without an API key."""
        if self._anthropic is None:
            if not self._settings.anthropic_api_key:
                self._missing("claude", "ANTHROPIC_API_KEY")
                return None
            from integrations.claude_client import anthropic_client

            self._anthropic = anthropic_client(self._settings)
        return self._anthropic
