"""Caller text as speech recognition writes it, normalised once for every parser.

Recognisers differ in punctuation, case, "a.m." versus "am" and apostrophes, so each parser
works on the same lower-case token list instead of guessing at the raw string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

_MERIDIEM_DOTS = re.compile(r"\b([ap])\.\s?m\b\.?")
_DIGIT_MERIDIEM = re.compile(r"(\d)(am|pm)\b")
_WORD_HYPHEN = re.compile(r"(?<=[a-z])-(?=[a-z])")
_KEEP = re.compile(r"[^a-z0-9:/\-' ]")
_LONE_COLON = re.compile(r"(?<![0-9]):|:(?![0-9])")
_LONE_SLASH = re.compile(r"(?<![0-9])/|/(?![0-9])")
_LONE_DASH = re.compile(r"(?<![0-9])-|-(?![0-9])")
_LONE_APOSTROPHE = re.compile(r"(?<![a-z])'|'(?![a-z])")


def normalize(text: str, *, keep_apostrophes: bool = False) -> str:
    """Lower-case words, digits and the separators that belong inside times and dates."""
    out = text.lower().replace("o'clock", "oclock").replace("o clock", "oclock")
    out = _MERIDIEM_DOTS.sub(r"\1m", out)
    out = _DIGIT_MERIDIEM.sub(r"\1 \2", out)
    out = _WORD_HYPHEN.sub(" ", out)
    out = _KEEP.sub(" ", out.replace("\u2019", "'"))
    out = _LONE_COLON.sub(" ", out)
    out = _LONE_SLASH.sub(" ", out)
    out = _LONE_DASH.sub(" ", out)
    out = _LONE_APOSTROPHE.sub(" ", out)
    if not keep_apostrophes:
        out = out.replace("'", "")  # "it's" and "its" are the same word to us
    return " ".join(_join_spelled_meridiem(out.split()))


def _join_spelled_meridiem(tokens: list[str]) -> list[str]:
    """'three p m' -> 'three pm'; only after a number, so 'a' stays an article."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if (
            token in ("a", "p")
            and i + 1 < len(tokens)
            and tokens[i + 1] == "m"
            and out
            and (out[-1][0].isdigit() or out[-1] in _CLOCK_WORDS)
        ):
            out.append(token + "m")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


_CLOCK_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "fifteen",
        "thirty",
        "forty",
        "fifty",
        "oclock",
        "noon",
    ]
)


@dataclass(frozen=True)
class Utterance:
    """One caller message, normalised."""

    raw: str
    norm: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", normalize(self.raw))

    @cached_property
    def tokens(self) -> list[str]:
        return self.norm.split()

    @cached_property
    def _padded(self) -> str:
        return f" {self.norm} "

    def has(self, *phrases: str) -> bool:
        """Whether any phrase occurs as whole words."""
        return any(f" {p} " in self._padded for p in phrases)

    def position(self, phrase: str) -> int:
        """Character offset of the phrase as whole words, or -1."""
        found = self._padded.find(f" {phrase} ")
        return found

    def has_all(self, *phrases: str) -> bool:
        return all(self.has(p) for p in phrases)

    def has_any_of(self, phrases: Iterable[str]) -> bool:
        return self.has(*phrases)
