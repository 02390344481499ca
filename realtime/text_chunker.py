"""Streaming agent text into speakable pieces, so TTS can start before the agent finishes.

A piece ends at a sentence boundary; the very first piece of a response may end earlier, at a
clause boundary, once it is long enough to sound natural ("Sure," is too short; "Sure, let me
check Tuesday for you," is fine) — that is first-clause flushing, and it is where most of the
time-to-first-audio is won.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"([.!?])\s+")
_CLAUSE_END = re.compile(r"([,;:])\s+")
FIRST_CLAUSE_MIN_CHARS = 24


class TextChunker:
    def __init__(self) -> None:
        self._buffer = ""
        self._emitted_any = False

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        pieces: list[str] = []
        while True:
            match = _SENTENCE_END.search(self._buffer)
            if match is None and not self._emitted_any:
                match = next(
                    (
                        c
                        for c in _CLAUSE_END.finditer(self._buffer)
                        if c.end(1) >= FIRST_CLAUSE_MIN_CHARS
                    ),
                    None,
                )
            if match is None:
                return pieces
            piece = self._buffer[: match.end(1)].strip()
            self._buffer = self._buffer[match.end() :]
            if piece:
                pieces.append(piece)
                self._emitted_any = True

    def flush(self) -> list[str]:
        piece, self._buffer = self._buffer.strip(), ""
        if piece:
            self._emitted_any = True
        return [piece] if piece else []
