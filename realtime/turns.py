"""Every turn-taking setting with its default, in one place.

Times are milliseconds unless named otherwise. A clinic can override any of them; the defaults
suit telephone audio (8 kHz, 20 ms frames).
"""

from __future__ import annotations

from dataclasses import dataclass, field

BACKCHANNELS = frozenset(
    {
        "mm", "mhm", "mm hmm", "mm-hmm", "uh huh", "uh-huh", "hmm", "ok", "okay", "yeah", "yep",
        "right", "sure", "alright", "all right", "i see", "got it", "yes",
    }
)  # fmt: skip


@dataclass(frozen=True)
class TurnSettings:
    # --- voice activity (realtime/vad.py) ---
    frame_ms: int = 20
    speech_margin_db: float = 12.0  # above the tracked noise floor
    min_speech_dbfs: float = -50.0  # quieter than this is never speech
    speech_start_ms: int = 60  # voiced audio before a speech onset is declared
    calibration_ms: int = 200  # the call's first audio only teaches the noise floor
    # --- end of the caller's turn ---
    endpointing_ms: int = 500  # silence after speech that ends the caller's turn
    stt_final_timeout_ms: int = 1500  # wait this long for a final transcript, then use the interim
    # --- barge-in ---
    # Onset during our speech pauses playback at once (clear); the speech then has
    # ``min_interruption_ms`` to prove it is an interruption, not a backchannel or noise,
    # otherwise playback resumes where it stopped.
    pause_on_onset: bool = True
    min_interruption_ms: int = 400
    min_interruption_words: int = 2
    backchannels: frozenset[str] = field(default=BACKCHANNELS)
    # --- output pacing (realtime/output.py) ---
    chunk_ms: int = 40  # audio per media frame we send, each followed by a mark
    lead_ms: int = 80  # how far ahead of real time we keep Twilio's buffer
    # --- timers ---
    idle_reprompt_s: float = 8.0  # caller silent after we finished speaking
    idle_reprompts: int = 2  # "Are you still there?" this many times, then goodbye
    max_call_s: float = 900.0  # overridden by the clinic's max_call_seconds
    provider_stall_s: float = 2.0  # STT/agent/TTS silent this long: fall back, never dead air
    # --- head starts (realtime/speculation.py, realtime/text_chunker.py) ---
    # When the caller pauses on an interim transcript that has stopped changing, the agent
    # starts on it before the final; nothing is spoken unless the final has the same words.
    speculate: bool = True  # only agents that answer without side effects (ClaudeAgent)
    speculate_after_silence_ms: int = 20  # one frame: the stable interim is the guard
    speculate_stable_ms: int = 250  # the interim unchanged this long
    # The first piece of a reply goes to TTS at a clause boundary (comma) once it has this
    # many words, rather than waiting for the sentence; None: whole sentences only.
    first_clause_min_words: int | None = 3
    low_confidence: float = 0.5  # below this, ask the caller to repeat
