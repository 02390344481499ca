"""Callers' names: "my name is Peter Brown", "it's Alex Rivera", spelled letters optional."""

from __future__ import annotations

from dataclasses import dataclass

from realtime.agent.rule.dates import MONTHS, WEEKDAYS
from realtime.agent.rule.numbers import UNITS, read_cardinal, read_ordinal
from realtime.agent.rule.text import normalize

_STRONG_CUES = (
    ("my", "name", "is"),
    ("the", "name", "is"),
    ("name", "is"),
    ("my", "names"),
    ("names",),
    ("call", "me"),
    ("patient", "name", "is"),
    ("appointment", "is", "for"),
    ("booking", "is", "for"),
)
# Weaker cues ("it's", "this is", "I'm") also start sentences that are not names, so they only
# count when followed by a first and last name, or when we just asked for a name.
_WEAK_CUES = (("this", "is"), ("its",), ("it", "is"), ("im",), ("i", "am"), ("speaking",))
NOT_NAMES = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "so",
        "my",
        "me",
        "i",
        "im",
        "id",
        "ive",
        "its",
        "it",
        "is",
        "was",
        "be",
        "to",
        "for",
        "from",
        "with",
        "on",
        "at",
        "in",
        "of",
        "about",
        "by",
        "this",
        "that",
        "there",
        "here",
        "new",
        "patient",
        "patients",
        "calling",
        "call",
        "speaking",
        "want",
        "wanted",
        "would",
        "like",
        "need",
        "needed",
        "looking",
        "trying",
        "hoping",
        "just",
        "also",
        "again",
        "please",
        "thanks",
        "thank",
        "you",
        "yes",
        "yeah",
        "yep",
        "no",
        "nope",
        "um",
        "uh",
        "er",
        "hmm",
        "ok",
        "okay",
        "well",
        "hi",
        "hello",
        "hey",
        "sorry",
        "sure",
        "not",
        "good",
        "fine",
        "great",
        "interested",
        "first",
        "last",
        "name",
        "names",
        "spelled",
        "spell",
        "spelling",
        "date",
        "birth",
        "born",
        "dob",
        "birthday",
        "book",
        "booking",
        "appointment",
        "schedule",
        "reschedule",
        "cancel",
        "move",
        "change",
        "dr",
        "doctor",
        "calling",
        "still",
        "already",
        "back",
        "returning",
        "existing",
        "current",
        "regular",
        "mine",
        "his",
        "her",
        "their",
        "son",
        "daughter",
        "wife",
        "husband",
        "mother",
        "father",
        "kid",
        "child",
        "checking",
        "check",
        "cleaning",
        "exam",
        "checkup",
        "filling",
        "crown",
        "whitening",
        "emergency",
        "today",
        "tomorrow",
        "next",
        "week",
        "morning",
        "afternoon",
        "evening",
        "because",
        "since",
        "as",
        "if",
        "when",
        "what",
        "where",
        "why",
        "who",
        "how",
        "do",
        "does",
        "did",
        "you",
        "your",
        "need",
        "can",
        "could",
        "will",
        "should",
        "have",
        "has",
        "had",
        "just",
        "get",
        "got",
        "see",
    ]
)


@dataclass(frozen=True)
class PersonName:
    first: str | None = None
    last: str | None = None


def looks_like_name(word: str) -> bool:
    return word.isalpha() and word not in NOT_NAMES and word not in UNITS and word not in WEEKDAYS


def _is_name_token(plain: str, tokens: list[str], i: int) -> bool:
    if not looks_like_name(plain):
        return False
    if plain in MONTHS:  # "June Carter" is a name; "march third" is a date
        after = tokens[i + 1] if i + 1 < len(tokens) else ""
        return not (
            after[:1].isdigit() or read_ordinal(tokens, i + 1) or read_cardinal(tokens, i + 1)
        )
    return True


def _collapse_spelling(tokens: list[str]) -> list[str]:
    """'brown b r o w n' -> 'brown': a spelled word replaces the word it spells."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        while j < len(tokens) and len(tokens[j]) == 1 and tokens[j].isalpha():
            j += 1
        run = tokens[i:j]
        if len(run) >= 2 and not set(run) <= {"a", "i"}:
            word = "".join(run)
            if out and out[-1][:1] == word[:1] and abs(len(out[-1]) - len(word)) <= 2:
                out[-1] = word  # what was spelled is what the caller meant
            else:
                out.append(word)
            i = j
            continue
        out.append(tokens[i])
        i += 1
    return out


def _take_name(tokens: list[str], start: int) -> list[str]:
    taken: list[str] = []
    for i in range(start, len(tokens)):
        plain = tokens[i].replace("'", "")
        if not _is_name_token(plain, tokens, i) or len(taken) == 3:
            break
        taken.append(tokens[i])
    return taken


def _title(word: str) -> str:
    return word.title()  # "o'brien" -> "O'Brien"


def _person(words: list[str]) -> PersonName:
    if not words:
        return PersonName()
    if len(words) == 1:
        return PersonName(first=_title(words[0]))
    return PersonName(first=_title(words[0]), last=" ".join(_title(w) for w in words[1:]))


def _explicit_parts(tokens: list[str]) -> PersonName | None:
    """'first name alex last name rivera', either part alone."""
    plain = [t.replace("'", "") for t in tokens]
    first = last = None
    for i in range(len(plain) - 1):
        if plain[i] in ("first", "last") and plain[i + 1] == "name":
            j = i + 2 + (i + 2 < len(plain) and plain[i + 2] == "is")
            taken = _take_name(tokens, j)
            if taken and plain[i] == "first":
                first = _title(taken[0])
            elif taken:
                last = " ".join(_title(t) for t in taken)
    if first is None and last is None:
        return None
    return PersonName(first, last)


def parse_name(text: str, *, expecting: bool = False) -> PersonName | None:
    """A caller's name. With ``expecting`` (we just asked for it) a bare name counts."""
    tokens = _collapse_spelling(normalize(text, keep_apostrophes=True).split())
    plain = [t.replace("'", "") for t in tokens]
    explicit = _explicit_parts(tokens)
    if explicit is not None:
        return explicit
    for cue in _STRONG_CUES + _WEAK_CUES:
        for i in range(len(plain) - len(cue) + 1):
            if tuple(plain[i : i + len(cue)]) != cue:
                continue
            words = _take_name(tokens, i + len(cue))
            if cue in _STRONG_CUES and words:
                return _person(words)
            if words and (len(words) >= 2 or expecting):
                return _person(words)
    if expecting:
        for i in range(len(tokens)):
            words = _take_name(tokens, i)
            if words:
                return _person(words)
    return None
