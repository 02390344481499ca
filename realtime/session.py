"""One phone call: wires the listener, the agent turn loop, the speaker and the call's timers.

Policy lives here; mechanisms live in their modules (``listener``, ``speaker``, ``output``,
``agent.loop``). The session is driven by ``handle`` with events from the media WebSocket and
ends with a report to the wrap-up workflow.

Races, and where they are guarded:
- caller speech while we speak: onset pauses playback at once; the utterance then either
  proves to be an interruption (cancel the turn, truncate what we said to what was heard) or a
  backchannel/noise (resume playback). ``_paused_by_caller`` carries that decision.
- caller speech while a committing tool (booking) runs: the tool is not interruptible, so the
  turn is not cancelled; the caller's words are answered after it (``_committing``).
- a transfer/hang-up requested by a tool: acted on only after the current speech has played.
- a speculative first response (``speculation``) started on a paused interim: adopted only
  when the final transcript has the same words, otherwise cancelled; never spoken before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from realtime.agent.loop import answered_message, run_agent_turn
from realtime.agent.protocol import Agent, Conversation, Message, ToolCall, ToolResult
from realtime.agent.tools import COMMITTING, ToolBox
from realtime.listener import Listener, Utterance
from realtime.output import PacedOutput
from realtime.speaker import Speaker
from realtime.speculation import Speculation, can_speculate
from realtime.stt.protocol import SttStream
from realtime.telephony import Telephony, TelephonyError
from realtime.tts.protocol import TextToSpeech
from realtime.turns import TurnSettings
from realtime.twilio_protocol import Dtmf, InboundEvent, Mark, Media, Stop
from workflows.contracts import SessionReport, TranscriptLine

log = logging.getLogger(__name__)

REPEAT = "Sorry, could you say that again?"
STILL_THERE = "Are you still there?"
IDLE_GOODBYE = "I'll let you go for now. Please call us back any time. Goodbye!"
MAX_DURATION = (
    "I'm sorry, I have to end our call now. Please call back if you need anything else. Goodbye!"
)
TRANSFERRING = "One moment, I'll connect you with our front desk."


@dataclass
class CallInfo:
    clinic_id: str
    call_sid: str
    stream_sid: str
    from_number: str | None
    to_number: str | None
    transfer_number: str
    direction: str = "inbound"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class TurnTiming:
    """Monotonic timestamps of one caller turn; reported relative to the end of speech."""

    end_of_speech: float
    stt_final: float
    endpointing_ms: float = 0.0
    agent_started: float | None = None
    agent_first_event: float | None = None
    tts_requested: float | None = None
    tts_first_byte: float | None = None
    first_media: float | None = None
    first_mark: float | None = None
    speculative: bool = False  # the agent started on the interim, before ``stt_final``

    def as_report(self) -> dict[str, float]:
        def rel(t: float | None) -> float:
            return round((t - self.end_of_speech) * 1000, 1) if t is not None else -1.0

        report = {
            "endpointing_ms": self.endpointing_ms,
            "stt_final_ms": rel(self.stt_final),
            "agent_started_ms": rel(self.agent_started),
            "agent_first_token_ms": rel(self.agent_first_event),
            "tts_requested_ms": rel(self.tts_requested),
            "tts_first_byte_ms": rel(self.tts_first_byte),
            "first_media_ms": rel(self.first_media),
            "first_mark_ms": rel(self.first_mark),
        }
        if self.speculative:
            report["speculative"] = 1.0
        elif None not in (
            self.agent_started,
            self.agent_first_event,
            self.tts_requested,
            self.tts_first_byte,
            self.first_media,
        ):
            # What we add: the gaps between providers, not the providers' own time.
            providers = (
                (self.stt_final - self.end_of_speech) * 1000
                - self.endpointing_ms
                + (self.agent_first_event - self.agent_started)  # type: ignore[operator]
                * 1000
                + (self.tts_first_byte - self.tts_requested) * 1000  # type: ignore[operator]
            )
            total = (self.first_media - self.end_of_speech) * 1000  # type: ignore[operator]
            report["overhead_ms"] = round(total - self.endpointing_ms - providers, 1)
        return report


class _CommitGuard:
    """Runs tools for the turn loop, flagging committing ones as not interruptible."""

    def __init__(self, tools: ToolBox, session: CallSession) -> None:
        self._tools, self._session = tools, session

    async def run(self, call: ToolCall) -> ToolResult:
        if call.name not in COMMITTING:
            return await self._tools.run(call)
        self._session._committing = True
        try:
            return await asyncio.shield(self._tools.run(call))
        finally:
            self._session._committing = False


class CallSession:
    def __init__(
        self,
        info: CallInfo,
        conversation: Conversation,
        *,
        settings: TurnSettings,
        send: Callable[[str], Awaitable[None]],
        stt: SttStream,
        tts: TextToSpeech,
        voice: str,
        agent: Agent,
        tools: Callable[[CallSession], ToolBox],
        telephony: Telephony,
        report: Callable[[CallInfo, SessionReport], Awaitable[None]],
        tts_fallback: TextToSpeech | None = None,
        clock: Callable[[], float] = time.monotonic,
        confidence_floor: float = 0.5,
        failovers: list[str] | None = None,
    ) -> None:
        self.info = info
        self.conversation = conversation
        self.settings = settings
        self._clock = clock
        self._agent = agent
        self._telephony = telephony
        self._report = report
        self.failovers = failovers if failovers is not None else []
        self.output = PacedOutput(send, info.stream_sid, settings, clock)
        self.output.on_mark = lambda _segment: self._on_mark()
        self.speaker = Speaker(
            tts, voice, self.output, stall_s=settings.provider_stall_s, fallback=tts_fallback,
            on_failover=self.failovers.append,
            first_clause_min_words=settings.first_clause_min_words,
        )  # fmt: skip
        self.listener = Listener(
            settings, stt, self._on_speech_start, self._on_utterance, clock, confidence_floor
        )
        self._speculation: Speculation | None = None
        if settings.speculate and can_speculate(agent):
            self.listener.on_pause = self._speculate
            self.listener.on_resume = self._drop_speculation
        self.tools = tools(self)
        self.timings: list[TurnTiming] = []
        self.ended = asyncio.Event()
        self._turn: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []
        self._paused_by_caller = False
        self._committing = False
        self._pending_action: tuple[str, str] | None = None  # ("transfer"|"hangup", reason)
        self._spoken: list[tuple[Message | None, int]] = []  # this turn's messages, first segment
        self._last_activity = clock()
        self._reprompts = 0
        self._end_reason = "caller hung up"
        self._publishing: set[asyncio.Task[None]] = set()
        self.on_transcript: Callable[[list[TranscriptLine]], Coroutine[Any, Any, None]] | None = (
            None
        )

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._background = [
            asyncio.create_task(self.output.run()),
            asyncio.create_task(self._watch_idle()),
            asyncio.create_task(self._watch_duration()),
        ]
        clinic = self.conversation.clinic
        greeting = clinic.greeting or (
            f"Thanks for calling {clinic.name}, this is {clinic.agent_name}. "
            "How can I help you today?"
        )
        self.conversation.add_agent(greeting)
        self._turn = asyncio.create_task(self._speak_only(greeting))

    async def handle(self, event: InboundEvent) -> None:
        if isinstance(event, Media):
            await self.listener.push(event.payload, event.timestamp_ms)
            await self._check_early_interruption()
        elif isinstance(event, Mark):
            self.output.mark_played(event.name)
        elif isinstance(event, Dtmf):
            if event.digit == "0":
                await self._interrupt()
                self.tools.record.outcome = "transferred"
                self.tools.record.transfer_reason = "caller pressed 0"
                self.request_transfer("caller pressed 0")
                self._turn = asyncio.create_task(self._speak_only(TRANSFERRING))
        elif isinstance(event, Stop):
            await self.close("caller hung up")

    async def close(self, reason: str) -> None:
        if self.ended.is_set():
            return
        self._end_reason = reason
        self.ended.set()
        tasks = [t for t in [self._turn, *self._background] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._drop_speculation()
        self.output.close()
        await self.speaker.cancel()
        await self.listener.aclose()
        try:
            await asyncio.wait_for(self._report(self.info, self.session_report()), 15)
        except Exception:  # Temporal down: Twilio's status callback still starts the wrap-up
            log.exception("session report failed", extra={"call_sid": self.info.call_sid})

    def transcript(self) -> list[TranscriptLine]:
        return [
            TranscriptLine(m.role, m.text, m.at or self.info.started_at, m.interrupted)
            for m in self.conversation.messages
            if m.role in ("caller", "agent") and m.text
        ]

    def _publish_transcript(self) -> None:
        if self.on_transcript is not None and not self.ended.is_set():
            task = asyncio.create_task(self.on_transcript(self.transcript()))
            self._publishing.add(task)
            task.add_done_callback(self._publishing.discard)

    def session_report(self) -> SessionReport:
        record = self.tools.record
        outcome = record.outcome or (
            "answered"
            if any(m.role == "caller" for m in self.conversation.messages)
            else "abandoned"
        )
        return SessionReport(
            ended_at=datetime.now(UTC),
            outcome=outcome,
            transcript=self.transcript(),
            tools_used=list(record.tools_used),
            workflow_ids=list(record.workflow_ids),
            turn_latencies=[t.as_report() for t in self.timings],
            failovers=list(self.failovers),
            patient_id=record.patient_id,
            transfer_reason=record.transfer_reason,
            insurance_unverified=record.insurance_unverified,
        )

    # --- CallControl (asked by tools) ---------------------------------------------------------

    def request_transfer(self, reason: str) -> None:
        self._pending_action = ("transfer", reason)

    def request_hangup(self, reason: str) -> None:
        self._pending_action = ("hangup", reason)

    def heard(self) -> tuple[str, bool]:
        """The message the caller last answered, as heard, and whether it was cut off."""
        text = answered_message(self.conversation)
        message = next(
            (
                m
                for m in reversed(self.conversation.messages)
                if m.role == "agent" and m.text == text
            ),
            None,
        )
        return text, bool(message and message.interrupted)

    # --- caller speech -----------------------------------------------------------------------

    async def _on_speech_start(self) -> None:
        self._last_activity = self._clock()
        if self.settings.pause_on_onset and self.output.playing:
            await self.output.pause()
            self._paused_by_caller = True

    async def _check_early_interruption(self) -> None:
        if not self._paused_by_caller or self._committing:
            return
        words = [w for w in self.listener.interim_text.split() if w]
        if (
            self.listener.speech_ms >= self.settings.min_interruption_ms
            and len(words) >= self.settings.min_interruption_words
            and " ".join(words) not in self.settings.backchannels
        ):
            await self._interrupt()

    def _is_backchannel(self, utterance: Utterance) -> bool:
        text = utterance.text.lower().strip(" .,!?")
        return (
            (not text)
            or text in self.settings.backchannels
            or utterance.speech_ms < self.settings.min_interruption_ms
        )

    async def _on_utterance(self, utterance: Utterance) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is not None and not speculation.matches(utterance.text):
            await speculation.cancel()  # the caller said more, or something else
            speculation = None
        adopted = False
        try:
            adopted = await self._take_turn(utterance, speculation)
        finally:
            if speculation is not None and not adopted:
                await speculation.cancel()

    async def _take_turn(self, utterance: Utterance, speculation: Speculation | None) -> bool:
        """Answer the utterance (with the speculative response, if given); False if ignored."""
        if self.ended.is_set():
            return False  # the call is closing: start nothing new
        self._last_activity = self._clock()
        if self._paused_by_caller:
            if self._is_backchannel(utterance) or self._committing:
                self._paused_by_caller = False
                self.output.resume()
                return False
            await self._interrupt()
        elif self._turn is not None and not self._turn.done() and not utterance.text:
            return False  # noise while we think: ignore
        if not utterance.text:
            return False
        if self._committing and self._turn is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._turn)
        await self._interrupt()
        self._reprompts = 0
        timing = TurnTiming(
            utterance.end_of_speech, utterance.stt_final, self.settings.endpointing_ms
        )
        if utterance.confidence < self.settings.low_confidence:
            self._turn = asyncio.create_task(self._speak_only(REPEAT))
            return False
        self.timings.append(timing)
        self.conversation.add_caller(utterance.text, utterance.confidence)
        self._publish_transcript()
        agent = self._agent
        if speculation is not None:
            agent = speculation.head_start(self._agent)
            timing.speculative = True
        self._turn = asyncio.create_task(self._agent_turn(timing, agent, speculation))
        return True

    async def _speculate(self, text: str) -> None:
        """The caller paused on ``text``: start the agent on it, in case they are done."""
        if self.ended.is_set() or self._paused_by_caller:
            return
        if self._turn is not None and not self._turn.done():
            return  # we are answering or speaking: the utterance will interrupt or wait
        await self._drop_speculation()
        self._speculation = Speculation(self._agent, self.conversation, text, self._clock)

    async def _drop_speculation(self) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is not None:
            await speculation.cancel()

    async def _interrupt(self) -> None:
        """Stop the current turn and cut our words back to what the caller heard."""
        self._paused_by_caller = False
        if self._turn is not None and not self._turn.done():
            self._turn.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._turn
        await self.speaker.cancel()
        self._truncate_to_heard()

    def _truncate_to_heard(self) -> None:
        bounds = [first for _, first in self._spoken] + [None]
        for (message, first), following in zip(self._spoken, bounds[1:], strict=False):
            heard, whole = self.output.heard_text(first, following - 1 if following else None)
            if whole:
                continue
            if message is None:  # cut off before the response finished streaming
                message = self.conversation.add_agent(heard)
            message.text, message.interrupted = heard, True
        self._spoken.clear()
        self._publish_transcript()

    # --- our speech --------------------------------------------------------------------------

    async def _speak_only(self, text: str) -> None:
        self.speaker.start_message()
        self._spoken = [(None, self.speaker.message_first_segment)]
        await self.speaker.feed(text)
        await self.speaker.finish()
        await self.output.wait_for_playout()
        self._spoken.clear()
        self._last_activity = self._clock()
        self._publish_transcript()
        await self._act_on_pending_action()

    async def _agent_turn(
        self, timing: TurnTiming, agent: Agent, speculation: Speculation | None = None
    ) -> None:
        self.speaker.start_message()
        self._spoken = [(None, self.speaker.message_first_segment)]
        self.output.on_first_media = lambda: setattr(timing, "first_media", self._clock())

        timing.agent_started = speculation.started_at if speculation else self._clock()

        def first_event() -> None:
            if timing.agent_first_event is None:
                first = speculation.first_event_at if speculation else None
                timing.agent_first_event = first or self._clock()

        async def message_end(message: Message) -> None:
            self._spoken[-1] = (message, self._spoken[-1][1])
            await self.speaker.finish()
            if timing.tts_first_byte is None:
                timing.tts_first_byte = self.speaker.first_byte_at
                timing.tts_requested = self.speaker.first_request_at
            if message.tool_calls:
                if any(call.name in COMMITTING for call in message.tool_calls):
                    await self.output.wait_for_playout()
                self.speaker.start_message()
                self._spoken.append((None, self.speaker.message_first_segment))

        self._timing = timing
        try:
            await run_agent_turn(
                agent, self.conversation, _CommitGuard(self.tools, self), self.speaker.feed,
                message_end, first_event,
            )  # fmt: skip
        finally:
            if speculation is not None:
                await speculation.cancel()  # a no-op once it has streamed everything
        await self.speaker.finish()
        await self.output.wait_for_playout()
        self._spoken.clear()
        self._last_activity = self._clock()
        self._publish_transcript()
        await self._act_on_pending_action()

    def _on_mark(self) -> None:
        timing = getattr(self, "_timing", None)
        if timing is not None and timing.first_media is not None and timing.first_mark is None:
            timing.first_mark = self._clock()

    async def _act_on_pending_action(self) -> None:
        if self._pending_action is None:
            return
        action, reason = self._pending_action
        self._pending_action = None
        try:
            if action == "transfer":
                await self._telephony.transfer(self.info.call_sid, self.info.transfer_number)
            else:
                await self._telephony.hangup(self.info.call_sid)
        except TelephonyError:  # logged there; closing the stream still ends the call
            reason = f"{reason} (telephony failed)"
        # Closing from inside a turn task must not cancel itself: hand it to a new task.
        asyncio.get_running_loop().create_task(self.close(f"{action}: {reason}"))

    # --- timers ------------------------------------------------------------------------------

    async def _watch_idle(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            busy = (
                self.listener.speaking
                or self.output.playing
                or (self._turn is not None and not self._turn.done())
            )
            if busy or self._clock() - self._last_activity < self.settings.idle_reprompt_s:
                continue
            self._reprompts += 1
            if self._reprompts > self.settings.idle_reprompts:
                self.tools.record.outcome = self.tools.record.outcome or "abandoned"
                self.request_hangup("caller silent")
                self._turn = asyncio.create_task(self._speak_only(IDLE_GOODBYE))
                return
            self._turn = asyncio.create_task(self._speak_only(STILL_THERE))

    async def _watch_duration(self) -> None:
        await asyncio.sleep(self.settings.max_call_s)
        await self._interrupt()
        self.request_hangup("max call duration")
        self._turn = asyncio.create_task(self._speak_only(MAX_DURATION))
