"""A clinic-specific trigram language model and pronunciation dictionary for pocketsphinx.

The bundled general English model garbles receptionist sentences on telephone audio; a small
model built from what callers say to a receptionist (``grammar``) crossed with the clinic's own
words recognises most in-domain sentences word for word. Words missing from the model cannot be
recognised at all, so the corpus covers every provider, appointment type, payer and patient
name, plus common US first and last names (``data/``), numbers, dates and times. Speech outside
the domain comes out as in-domain words (low confidence, see ``sphinx_worker``).

Smoothing is interpolated Kneser-Ney with one fixed discount, written in ARPA back-off form
(see ``arpa``); every conditional distribution sums to one. On the same corpus it recognised
flite's telephone speech slightly better than interpolated Witten-Bell.

Built models are cached under ``cache_dir/<key>/`` where the key hashes the vocabulary and the
generator; the files contain patient names (PHI), so the directory is private (0700, files 0600).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pocketsphinx

from realtime.stt import grammar
from realtime.stt.protocol import Vocabulary

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"
DATA_DIR = Path(__file__).with_name("data")
CMUDICT = Path(pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"))
ACOUSTIC_MODEL = Path(pocketsphinx.get_model_path("en-us/en-us"))
ORDER = 3
SCALE = 6  # sentences drawn per template count: more covers more slot combinations
DISCOUNT = 0.7
RETENTION_DAYS = 30  # unused models are deleted after this


@dataclass(frozen=True)
class LanguageModel:
    """Files a decoder loads: ``Decoder(lm=str(arpa), dict=str(dictionary))``."""

    arpa: Path
    dictionary: Path
    words: int  # distinct words, excluding sentence markers
    guessed: int  # words not in CMUdict: compounds of two entries or letter-to-sound rules
    dropped: int  # words with no usable pronunciation, left out of the model


# --- text normalisation ----------------------------------------------------------------------

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]  # fmt: skip
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                  "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}  # fmt: skip
_TITLES = {"dr": "doctor", "mr": "mister", "mrs": "missus", "ms": "miss", "st": "street",
           "ste": "suite", "ave": "avenue", "blvd": "boulevard", "&": "and"}  # fmt: skip


def number_words(n: int) -> str:
    """0 ≤ n < 1,000,000 as spoken: 342 → "three hundred forty two"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        rest = "" if n % 100 == 0 else " " + number_words(n % 100)
        return f"{_ONES[n // 100]} hundred{rest}"
    rest = "" if n % 1000 == 0 else " " + number_words(n % 1000)
    return f"{number_words(n // 1000)} thousand{rest}"


def ordinal_words(n: int) -> str:
    """1 → "first", 23 → "twenty third"."""
    words = number_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def year_words(year: int) -> str:
    """1980 → "nineteen eighty", 1905 → "nineteen oh five", 2001 → "two thousand one"."""
    if 2000 <= year < 2010:
        return number_words(year)
    high, low = divmod(year, 100)
    if low == 0:
        return f"{number_words(high)} hundred"
    low_words = f"oh {_ONES[low]}" if low < 10 else number_words(low)
    return f"{number_words(high)} {low_words}"


def normalize(text: str) -> list[str]:
    """Text as recogniser words: lower case, titles expanded, digits spelled out."""
    words: list[str] = []
    for token in re.findall(r"[\w']+|&", text.lower().replace("-", " ")):
        token = token.strip("'")
        if not token:
            continue
        if token.isascii() and token.isdigit():
            # Long digit strings (ids, phone numbers) are read digit by digit.
            digits = (
                number_words(int(token)).split()
                if len(token) < 5
                else [_ONES[int(d)] for d in token]
            )
            words.extend(digits)
        elif token in _TITLES:
            words.append(_TITLES[token])
        else:
            words.append(token)
    return words


def spoken(text: str) -> str:
    return " ".join(normalize(text))


# --- corpus ----------------------------------------------------------------------------------


@cache
def common_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Built-in common US (first, last) names."""

    def load(name: str) -> tuple[str, ...]:
        lines = (DATA_DIR / name).read_text().splitlines()
        return tuple(dict.fromkeys(ln.strip() for ln in lines if ln.strip() and ln[0] != "#"))

    return load("first_names.txt"), load("last_names.txt")


def _provider_forms(name: str) -> list[str]:
    words = normalize(name)
    doctor = bool(words) and words[0] == "doctor"
    parts = words[1:] if doctor else words
    if not parts:
        return []
    forms = [" ".join(parts)]
    if len(parts) > 1:
        forms.append(parts[0])  # first name
    if doctor:
        forms += [f"doctor {parts[-1]}", f"doctor {' '.join(parts)}"]
        if len(parts) > 1:
            forms.append(f"doctor {parts[0]}")
    return forms


def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def clinic_rules(vocabulary: Vocabulary) -> dict[str, list[str]]:
    """The clinic's words as grammar rules, merged over the built-in ones."""
    first_common, last_common = _without_homophones(common_names(), vocabulary)
    patient_first = [spoken(f) for f, _ in vocabulary.patient_names]
    patient_last = [spoken(s) for _, s in vocabulary.patient_names]
    provider_forms = [f for p in vocabulary.providers for f in _provider_forms(p)]
    provider_names = [w for p in vocabulary.providers for w in normalize(p) if w != "doctor"]
    firsts = _dedupe([*patient_first, *first_common, *(n.split()[0] for n in provider_names)])
    lasts = _dedupe([*patient_last, *last_common, *provider_names])
    types = _compounds(spoken(t) for t in vocabulary.appointment_types) or ["appointment"]
    single_lasts = [name for name in lasts if " " not in name]
    rules = dict(grammar.RULES)
    rules.update(
        first=[n for n in firsts if n],
        last=[n for n in lasts if n],
        last_spelled=[f"{n} {' '.join(n)}" for n in single_lasts],
        spelled=[" ".join(n) for n in single_lasts],
        provider=provider_forms or ["the doctor"],
        type=types,
        article_type=[_article(t) for t in types],
        payer=_dedupe([*(spoken(p) for p in vocabulary.payers), *grammar.COMMON_PAYERS]),
        clinic=[spoken(vocabulary.clinic_name) or "the office"],
        agent=[spoken(vocabulary.agent_name) or "there"],
        place=_dedupe(spoken(p) for p in vocabulary.places) or ["main street"],
        ordinal=[ordinal_words(n) for n in range(1, 32)],
        day_number=[number_words(n) for n in range(1, 32)],
        month_number=[number_words(n) for n in range(1, 13)],
        hour=[number_words(n) for n in range(1, 13)],
        year=[year_words(y) for y in range(1930, 2027)],
    )
    return rules


def _without_homophones(
    names: tuple[tuple[str, ...], tuple[str, ...]], vocabulary: Vocabulary
) -> tuple[list[str], list[str]]:
    """Common names minus those that sound exactly like a clinic word ("fisher" when a patient
    is "fischer": the recogniser cannot tell them apart, and the clinic's spelling is the one
    worth getting right) and minus very short ones."""
    known = cmudict()
    clinic_words = {w for phrase in vocabulary.keywords() for w in normalize(phrase)}
    clinic_sounds = {p for w in clinic_words for p in known.get(w, ())}
    first, last = names

    def keep(name: str) -> bool:
        if name in clinic_words:
            return True
        sounds = known.get(name, ())
        # Very short names ("le", "pham", "joe") soak up stray noise and mumbles.
        short = any(len(s.split()) <= 3 for s in sounds)
        return not short and not clinic_sounds.intersection(sounds)

    return [n for n in first if keep(n)], [n for n in last if keep(n)]


def _compounds(phrases: Iterable[str]) -> list[str]:
    """Drop "check up" when "checkup" is also there: two spellings of one sound only split
    the counts and make the output inconsistent."""
    phrases = _dedupe(phrases)
    by_sound: dict[str, str] = {}
    for phrase in phrases:
        key = phrase.replace(" ", "")
        if key not in by_sound or " " in by_sound[key]:
            by_sound[key] = phrase
    return [p for p in phrases if by_sound[p.replace(" ", "")] == p]


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


class _Expander:
    """Fills ``{slot}``s with alternatives drawn at random (seeded, so builds are repeatable).

    Independent draws, not a rotation: rotating several lists in step correlates their values
    (one hour never met "thirty"), which the n-gram model then learns as fact.
    """

    def __init__(self, rules: dict[str, list[str]], seed: int = 7) -> None:
        self.rules = rules
        self.random = random.Random(seed)  # noqa: S311 (a repeatable corpus, not a secret)

    def expand(self, template: str, depth: int = 0) -> str:
        if depth > 8:
            raise ValueError("grammar rules recurse too deeply")
        return re.sub(
            r"\{(\w+)\}",
            lambda m: self.expand(self.random.choice(self.rules[m.group(1)]), depth + 1),
            template,
        )


def corpus(vocabulary: Vocabulary, scale: int | None = None) -> list[list[str]]:
    """Training sentences (as word lists) for the clinic, deterministic for a vocabulary."""
    expander = _Expander(clinic_rules(vocabulary))
    sentences = [
        expander.expand(template).split()
        for count, template in grammar.SENTENCES
        for _ in range(count * (scale or SCALE))
    ]
    # Every rule alternative at least once more, alone, so no clinic word depends on luck.
    for slot in ("provider", "type", "payer", "first", "last", "place", "clinic", "agent"):
        sentences.extend(value.split() for value in expander.rules[slot])
    return [s for s in sentences if s]


# --- ARPA ------------------------------------------------------------------------------------


def arpa(sentences: Iterable[list[str]], order: int = ORDER, discount: float = DISCOUNT) -> str:
    """An interpolated Kneser-Ney n-gram model in ARPA back-off format.

    Every order subtracts a fixed ``discount`` from each count and gives the freed mass to the
    next lower order (the back-off weight is that mass); lower orders count how many different
    words precede an n-gram rather than how often it occurs, so a word seen in many contexts
    ("thirty") backs off better than one frequent in a single template.
    """
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        tokens = ["<s>", *sentence, "</s>"]
        for n in range(1, order + 1):
            for i in range(len(tokens) - n + 1):
                gram = tuple(tokens[i : i + n])
                if gram != ("<s>",):
                    counts[n][gram] += 1
    # Continuation counts for the lower orders; n-grams at the sentence start have no left
    # context, so they keep their plain counts.
    effective: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order + 1)]
    effective[order] = counts[order]
    for n in range(1, order):
        left_contexts = Counter(gram[1:] for gram in counts[n + 1])
        for gram, c in counts[n].items():
            effective[n][gram] = c if gram[0] == "<s>" else left_contexts[gram] or c

    vocab = sorted({w for (w,) in counts[1]})  # includes </s>, not <s>
    probs: list[dict[tuple[str, ...], float]] = [{} for _ in range(order + 1)]
    backoff: list[dict[tuple[str, ...], float]] = [{} for _ in range(order + 1)]
    total = sum(effective[1].values())
    for w in vocab:  # the discounted mass is spread uniformly
        probs[1][(w,)] = (max(effective[1][(w,)] - discount, 0) + discount) / total

    def lower(gram: tuple[str, ...]) -> float:
        """P(w | shorter context) from the lower orders already built, backing off as needed."""
        if gram in probs[len(gram)]:
            return probs[len(gram)][gram]
        return backoff[len(gram) - 1].get(gram[:-1], 1.0) * lower(gram[1:])

    for n in range(2, order + 1):
        stats: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
        for gram, c in effective[n].items():
            entry = stats[gram[:-1]]
            entry[0] += c  # total count of the context
            entry[1] += 1  # distinct words after it
        for gram, c in effective[n].items():
            seen, kinds = stats[gram[:-1]]
            probs[n][gram] = (max(c - discount, 0) + discount * kinds * lower(gram[1:])) / seen
        for context, (seen, kinds) in stats.items():
            backoff[n - 1][context] = discount * kinds / seen

    lines = ["\\data\\"]
    sizes = [len(vocab) + 1] + [len(probs[n]) for n in range(2, order + 1)]
    lines += [f"ngram {n}={size}" for n, size in enumerate(sizes, start=1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        if n == 1:
            lines.append(f"-99.0000\t<s>\t{_log10(backoff[1].get(('<s>',), 1.0)):.4f}")
        for gram, p in sorted(probs[n].items()):
            line = f"{_log10(p):.4f}\t{' '.join(gram)}"
            if n < order and gram in backoff[n]:
                line += f"\t{_log10(backoff[n][gram]):.4f}"
            lines.append(line)
    lines += ["", "\\end\\", ""]
    return "\n".join(lines)


def _log10(p: float) -> float:
    return math.log10(p) if p > 0 else -99.0


# --- pronunciations --------------------------------------------------------------------------


@cache
def cmudict() -> dict[str, tuple[str, ...]]:
    """Word → pronunciations from the dictionary bundled with pocketsphinx."""
    entries: dict[str, list[str]] = defaultdict(list)
    with CMUDICT.open(encoding="utf-8") as handle:
        for line in handle:
            word, _, phones = line.strip().partition(" ")
            if phones:
                entries[re.sub(r"\(\d+\)$", "", word)].append(phones.strip())
    return {w: tuple(p) for w, p in entries.items()}


_FLITE_PHONES = {"ax": "AH", "axr": "ER", "pau": ""}
_SPHINX_PHONES = set(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW "
    "V W Y Z ZH".split()
)


def _compound_pronunciation(word: str, known: dict[str, tuple[str, ...]]) -> str | None:
    """A compound from two dictionary words ("tooth" + "ache"), each of 4+ letters: shorter
    pieces make nonsense of names ("sam" + "ira")."""
    for cut in range(4, len(word) - 3):
        head, tail = known.get(word[:cut]), known.get(word[cut:])
        if head and tail:
            return f"{head[0]} {tail[0]}"
    return None


def _flite_pronunciations(words: list[str]) -> dict[str, str]:
    """Letter-to-sound by flite (CMU lexicon + rules trained on CMUdict), text on stdin so names
    never appear in a process list."""
    binary = shutil.which("flite")
    if binary is None or not words:
        return {}
    out: dict[str, str] = {}
    for start in range(0, len(words), 200):
        batch = words[start : start + 200]
        # One word per sentence: flite pauses between sentences, so the phones split cleanly.
        result = subprocess.run(
            [binary, "-ps", "-o", "none", "-f", "/dev/stdin"],
            input=". ".join(batch) + ".",
            capture_output=True,
            text=True,
            timeout=60,
        )
        groups = [g.split() for g in result.stdout.split("pau") if g.strip()]
        if result.returncode != 0 or len(groups) != len(batch):
            continue
        for word, phones in zip(batch, groups, strict=True):
            mapped = [_FLITE_PHONES.get(p, p.rstrip("012").upper()) for p in phones]
            mapped = [p for p in mapped if p]
            if mapped and all(p in _SPHINX_PHONES for p in mapped):
                out[word] = " ".join(mapped)
    return out


_RULES: list[tuple[str, str]] = [
    ("tch", "CH"), ("sch", "SH"), ("ch", "CH"), ("sh", "SH"), ("th", "TH"), ("ph", "F"),
    ("ck", "K"), ("ng", "NG"), ("qu", "K W"), ("wh", "W"), ("gh", ""), ("kn", "N"),
    ("ee", "IY"), ("ea", "IY"), ("oo", "UW"), ("ou", "AW"), ("ow", "OW"), ("oa", "OW"),
    ("ai", "EY"), ("ay", "EY"), ("ey", "IY"), ("ie", "IY"), ("ei", "EY"), ("au", "AO"),
    ("aw", "AO"), ("oi", "OY"), ("oy", "OY"), ("a", "AE"), ("b", "B"), ("c", "K"), ("d", "D"),
    ("e", "EH"), ("f", "F"), ("g", "G"), ("h", "HH"), ("i", "IH"), ("j", "JH"), ("k", "K"),
    ("l", "L"), ("m", "M"), ("n", "N"), ("o", "AA"), ("p", "P"), ("r", "R"), ("s", "S"),
    ("t", "T"), ("u", "AH"), ("v", "V"), ("w", "W"), ("x", "K S"), ("y", "IY"), ("z", "Z"),
]  # fmt: skip


def naive_pronunciation(word: str) -> str:
    """A crude spelling-to-phones guess, used only when flite is not installed."""
    letters = re.sub(r"[^a-z]", "", word.lower())
    if len(letters) > 3 and letters.endswith("e") and letters[-2] not in "aeiou":
        letters = letters[:-1]  # silent final e
    phones: list[str] = []
    i = 0
    while i < len(letters):
        for graph, sound in _RULES:
            if letters.startswith(graph, i):
                if graph == "c" and letters[i + 1 : i + 2] in ("e", "i", "y"):
                    sound = "S"
                if graph == "y" and i == 0:
                    sound = "Y"
                phones.extend(sound.split())
                i += len(graph)
                break
        else:
            i += 1
    return " ".join(p for i, p in enumerate(phones) if i == 0 or p != phones[i - 1])


def pronunciations(words: Iterable[str]) -> tuple[dict[str, tuple[str, ...]], int, int]:
    """Pronunciations for ``words``: (dictionary, how many guessed, how many dropped)."""
    known = cmudict()
    result: dict[str, tuple[str, ...]] = {}
    missing: list[str] = []
    compounds = 0
    for word in sorted(set(words)):
        compound = None if word in known else _compound_pronunciation(word, known)
        if word in known:
            result[word] = known[word]
        elif compound:
            result[word] = (compound,)
            compounds += 1
        else:
            missing.append(word)
    guessed = _flite_pronunciations(missing)
    dropped = 0
    for word in missing:
        phones = guessed.get(word) or naive_pronunciation(word)
        if phones:
            result[word] = (phones,)
        else:
            dropped += 1
    return result, compounds + len(missing) - dropped, dropped


# --- building and caching --------------------------------------------------------------------


def cache_key(vocabulary: Vocabulary) -> str:
    source = Path(grammar.__file__).read_bytes() + Path(__file__).read_bytes()
    for name in ("first_names.txt", "last_names.txt"):
        source += (DATA_DIR / name).read_bytes()
    digest = hashlib.sha256(source + vocabulary.fingerprint().encode()).hexdigest()
    return f"v{GENERATOR_VERSION}-{digest[:20]}"


def build(vocabulary: Vocabulary, cache_dir: Path) -> LanguageModel:
    """The clinic's model files, from the cache or freshly built (seconds; call off the loop)."""
    target = cache_dir / cache_key(vocabulary)
    meta = target / "meta"
    if meta.exists():
        os.utime(meta)  # in use: keeps it from being pruned
        words, guessed, dropped = (int(x) for x in meta.read_text().split())
        return LanguageModel(
            target / "clinic.arpa", target / "clinic.dict", words, guessed, dropped
        )

    sentences = corpus(vocabulary)
    lexicon, guessed, dropped = pronunciations(w for s in sentences for w in s)
    if dropped:
        sentences = [s for s in sentences if all(w in lexicon for w in s)]
    if guessed or dropped:
        # Counts only: the words may be patient names.
        log.info(
            "language model: %d words guessed by letter-to-sound, %d dropped", guessed, dropped
        )
    words_used = {w for s in sentences for w in s}

    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        (staging / "clinic.arpa").write_text(arpa(sentences), encoding="utf-8")
        with (staging / "clinic.dict").open("w", encoding="utf-8") as handle:
            for word in sorted(words_used):
                for i, phones in enumerate(lexicon[word]):
                    handle.write(f"{word}{'' if i == 0 else f'({i + 1})'} {phones}\n")
        (staging / "meta").write_text(f"{len(words_used)} {guessed} {dropped}\n")
        for path in staging.iterdir():
            path.chmod(0o600)
        try:
            os.replace(staging, target)
        except OSError:  # another process built it first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    prune(cache_dir)
    return LanguageModel(
        target / "clinic.arpa", target / "clinic.dict", len(words_used), guessed, dropped
    )


def prune(cache_dir: Path, max_age_days: float = RETENTION_DAYS) -> int:
    """Delete models unused for ``max_age_days`` (they hold names of former patients) and
    builds that crashed; returns how many directories went."""
    cutoff = time.time() - max_age_days * 86400
    removed = 0
    for entry in cache_dir.iterdir():
        stamp = entry / "meta" if entry.name.startswith("v") else entry
        try:
            stale = entry.is_dir() and stamp.stat().st_mtime < cutoff
        except FileNotFoundError:  # a half-written model: judge it by its directory
            stale = entry.stat().st_mtime < cutoff
        if stale and (entry.name.startswith("v") or entry.name.startswith(".build-")):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed
