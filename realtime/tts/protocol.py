"""Text-to-speech: text in, 8 kHz μ-law out, streamed as soon as audio exists."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class TtsError(RuntimeError):
    """Synthesis failed. The message never contains the text being spoken."""


class TtsUnavailable(TtsError):
    """The engine cannot run here (binary or credentials missing)."""


class TextToSpeech(Protocol):
    """Synthesises one utterance (normally one sentence of the agent's reply).

    ``synthesize`` yields 8 kHz μ-law mono chunks of any size, the first as early as the engine
    allows. Cancellation is cancelling the task that consumes the iterator (or closing it with
    ``aclose``, e.g. via ``contextlib.aclosing``): implementations stop their engine at once
    (kill subprocesses, close sockets) and leave nothing running. ``voice`` is the clinic's
    configured voice name; an engine that does not know it uses its default. The text is PHI
    and must never be logged.
    """

    def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]: ...
