"""Energy voice-activity detection on 20 ms μ-law frames, with an adaptive noise floor.

Telephone lines differ in their background level, so speech is "this many dB above the noise
this call has been showing", with a hysteresis: a run of voiced frames starts speech, a run of
silence ends it. Cheap enough to run on every frame of hundreds of calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime.audio.codec import dbfs, ulaw_to_pcm16
from realtime.turns import TurnSettings


@dataclass(frozen=True)
class VadEvent:
    kind: str  # "start" | "end"
    at_ms: int  # stream time of the first voiced frame (start) or the last one (end)
    speech_ms: int = 0  # for "end": how long the speech lasted


FLOOR_DBFS = -100.0  # digital silence is -inf; the noise tracker needs a number


def frame_dbfs(ulaw: bytes) -> float:
    return max(dbfs(ulaw_to_pcm16(ulaw)), FLOOR_DBFS)


class EnergyVad:
    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self.noise_dbfs = -60.0
        self.speaking = False
        self._voiced_run = 0
        self._silent_run = 0
        self._speech_started_ms = 0
        self._last_voiced_ms = 0
        self._calibrated_ms = 0

    def _voiced(self, level: float) -> bool:
        return level > max(
            self.noise_dbfs + self.settings.speech_margin_db, self.settings.min_speech_dbfs
        )

    def _track_noise(self, level: float, voiced: bool) -> None:
        # Fall fast to quieter levels, rise slowly, and never learn from speech.
        if level < self.noise_dbfs:
            self.noise_dbfs = 0.7 * self.noise_dbfs + 0.3 * level
        elif not voiced:
            self.noise_dbfs = 0.98 * self.noise_dbfs + 0.02 * level

    def process(self, ulaw: bytes, at_ms: int) -> VadEvent | None:
        """Feed one frame starting at stream time ``at_ms``; returns a start/end event or None.

        An "end" is reported once the silence has lasted ``endpointing_ms``; its ``at_ms`` is
        the end of the last voiced frame, so latency is measured from when the caller stopped.
        """
        level = frame_dbfs(ulaw)
        if self._calibrated_ms < self.settings.calibration_ms:
            # Learn the line's noise first; callers rarely speak over the greeting's first words.
            self._calibrated_ms += self.settings.frame_ms
            self.noise_dbfs = (
                level
                if self._calibrated_ms == self.settings.frame_ms
                else max(self.noise_dbfs, level)
            )
            return None
        voiced = self._voiced(level)
        self._track_noise(level, voiced)
        frame = self.settings.frame_ms
        if voiced:
            self._voiced_run += 1
            self._silent_run = 0
            self._last_voiced_ms = at_ms + frame
            if not self.speaking and self._voiced_run * frame >= self.settings.speech_start_ms:
                self.speaking = True
                self._speech_started_ms = at_ms + frame - self._voiced_run * frame
                return VadEvent("start", self._speech_started_ms)
            return None
        self._voiced_run = 0
        if not self.speaking:
            return None
        self._silent_run += 1
        if self._silent_run * frame >= self.settings.endpointing_ms:
            self.speaking = False
            return VadEvent(
                "end", self._last_voiced_ms, self._last_voiced_ms - self._speech_started_ms
            )
        return None

    @property
    def trailing_silence_ms(self) -> int:
        """Silence since the last voiced frame of speech still in progress (0 when voiced)."""
        return self._silent_run * self.settings.frame_ms if self.speaking else 0

    @property
    def speech_so_far_ms(self) -> int:
        return self._last_voiced_ms - self._speech_started_ms if self.speaking else 0
