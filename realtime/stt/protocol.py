"""Streaming speech-to-text: one stream per call, interim and final transcripts.

The shape fits both a cloud recogniser (continuous audio over a socket, interim and final
results, its own endpointing, keyword boosting) and an offline decoder (pocketsphinx with a
clinic-specific language model). The session pushes every caller frame as it arrives, calls
``end_of_speech`` when its VAD decides the caller has stopped, and reads ``transcripts()``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass
from typing import Protocol

from realtime.agent.protocol import ClinicProfile


@dataclass(frozen=True)
class Transcript:
    """A recognition result for the current utterance.

    Interim results (``is_final=False``) may be revised by later ones; a final result closes the
    utterance and the next audio starts a new one. ``confidence`` is in [0, 1]; how it is
    derived is engine-specific (documented by each implementation), so compare it only against
    thresholds tuned for that engine.
    """

    text: str
    is_final: bool
    confidence: float


class SttStream(Protocol):
    """One call's recognition stream. Methods are called from the event loop."""

    async def push(self, ulaw: bytes) -> None:
        """Caller audio as it arrives (8 kHz μ-law, normally 20 ms frames).

        Must be cheap: it queues audio and returns; recognition happens elsewhere.
        """
        ...

    async def end_of_speech(self) -> None:
        """The session's VAD says the caller stopped: finalise the current utterance now.

        Returns without waiting for the result. Exactly one final ``Transcript`` follows for
        the audio pushed since the previous final, with empty text when nothing was recognised.
        Engines with their own endpointing may also emit finals without being asked.
        """
        ...

    def transcripts(self) -> AsyncIterator[Transcript]:
        """Interim and final results in order; ends after ``aclose``. Iterate it once."""
        ...

    async def aclose(self) -> None:
        """Stop recognising and release the stream's resources; idempotent.

        Audio not yet finalised is discarded.
        """
        ...


# What a stream's results queue carries: a transcript, the error that ended the stream, or
# None once it is closed.
ResultQueue = asyncio.Queue[Transcript | BaseException | None]


async def drain_results(queue: ResultQueue) -> AsyncIterator[Transcript]:
    """``transcripts()`` for a stream that queues its results: yields until the closing None,
    raising the error that ended the stream, if any."""
    while True:
        item = await queue.get()
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


class SpeechToText(Protocol):
    """A recogniser: opens one ``SttStream`` per call, biased towards the clinic's words."""

    async def open(self, vocabulary: Vocabulary) -> SttStream: ...


@dataclass(frozen=True)
class Vocabulary:
    """The clinic words a recogniser must know: for keyword boosting (cloud) or for building
    the language model and pronunciation dictionary (offline). Contains patient names: PHI.
    """

    clinic_name: str = ""
    agent_name: str = ""
    providers: tuple[str, ...] = ()  # display names, e.g. "Dr. Maya Patel"
    appointment_types: tuple[str, ...] = ()  # names and synonyms, e.g. "teeth cleaning"
    payers: tuple[str, ...] = ()  # e.g. "Delta Dental"
    patient_names: tuple[tuple[str, str], ...] = ()  # (first, last)
    places: tuple[str, ...] = ()  # words of the clinic's address, e.g. "Harbor Street"

    @classmethod
    def from_profile(
        cls, profile: ClinicProfile, patient_names: Iterable[tuple[str, str]] = ()
    ) -> Vocabulary:
        types: list[str] = []
        for kind in profile.appointment_types:
            types.extend([kind.name, *kind.synonyms])
        return cls(
            clinic_name=profile.name,
            agent_name=profile.agent_name,
            providers=_unique(p.name for p in profile.providers),
            appointment_types=_unique(types),
            payers=_unique(profile.accepted_insurance),
            patient_names=tuple(sorted({(f.strip(), s.strip()) for f, s in patient_names})),
            places=_unique(_address_words(profile.address)),
        )

    def keywords(self) -> tuple[str, ...]:
        """Distinct phrases worth boosting in a cloud recogniser."""
        names = [f"{first} {last}" for first, last in self.patient_names]
        return _unique(
            [
                self.clinic_name,
                self.agent_name,
                *self.providers,
                *self.appointment_types,
                *self.payers,
                *names,
            ]
        )

    def fingerprint(self) -> str:
        """A stable hash of the vocabulary (cache key for models built from it)."""
        blob = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    """Stripped, non-empty, first spelling of each case-insensitive duplicate."""
    seen: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if item:
            seen.setdefault(item.lower(), item)
    return tuple(seen.values())


def _address_words(address: str) -> list[str]:
    # Street, suite and town names; house numbers are spoken as numbers anyway.
    return [part for part in re.split(r"[,\d]+", address) if part.strip()]
