"""Streaming agent text into speakable pieces, so TTS can start before the agent finishes.

A piece ends at a sentence boundary; the very first piece of a response may end earlier, at a
clause boundary, once it has ``first_clause_min_words`` words and so sounds like a phrase
("Sure," is too short; "Of course, let me check," is fine) — that is first-clause flushing:
the TTS starts on it while the agent is still writing the rest of the sentence.
"""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"([.!?])\s+")
_CLAUSE_END = re.compile(r"([,;:])\s+")


class TextChunker:
    def __init__(self, first_clause_min_words: int | None = 3) -> None:
        self._buffer = ""
        self._emitted_any = False
        self._min_words = first_clause_min_words

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        pieces: list[str] = []
        while True:
            match = _SENTENCE_END.search(self._buffer)
            if match is None and not self._emitted_any and self._min_words is not None:
                words = self._min_words
                match = next(
                    (
                        c
                        for c in _CLAUSE_END.finditer(self._buffer)
                        if len(self._buffer[: c.start()].split()) >= words
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
