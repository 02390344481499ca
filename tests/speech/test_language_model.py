from __future__ import annotations

import math
import os
import stat
import time
from dataclasses import replace

import pocketsphinx
import pytest

from realtime.stt import language_model as lm
from realtime.stt.protocol import Vocabulary
from tests.speech.clinic import demo_profile, demo_vocabulary

PHONES = set(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW "
    "V W Y Z ZH".split()
)


class Arpa:
    """A minimal ARPA reader that scores with back-off, to check the model we write."""

    def __init__(self, text: str) -> None:
        self.declared: dict[int, int] = {}
        self.prob: dict[tuple[str, ...], float] = {}
        self.backoff: dict[tuple[str, ...], float] = {}
        self.listed: dict[int, int] = {}
        order = 0
        lines = text.splitlines()
        assert lines[0] == "\\data\\" and "\\end\\" in lines
        for line in lines[1:]:
            if line.startswith("ngram "):
                n, count = line[6:].split("=")
                self.declared[int(n)] = int(count)
            elif line.endswith("-grams:"):
                order = int(line[1])
            elif line == "\\end\\":
                break
            elif line.strip() and order:
                fields = line.split("\t")
                gram = tuple(fields[1].split())
                assert len(gram) == order
                self.prob[gram] = float(fields[0])
                if len(fields) == 3:
                    self.backoff[gram] = float(fields[2])
                self.listed[order] = self.listed.get(order, 0) + 1
        self.order = max(self.declared)
        self.vocab = [g[0] for g in self.prob if len(g) == 1 and g[0] != "<s>"]

    def log10(self, word: str, context: tuple[str, ...]) -> float:
        context = context[-(self.order - 1) :] if self.order > 1 else ()
        if (*context, word) in self.prob:
            return self.prob[(*context, word)]
        if not context:
            return -99.0
        return self.backoff.get(context, 0.0) + self.log10(word, context[1:])

    def sentence(self, text: str) -> float:
        tokens = ["<s>", *text.split(), "</s>"]
        return sum(
            self.log10(tokens[i], tuple(tokens[max(0, i - self.order + 1) : i]))
            for i in range(1, len(tokens))
        )


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return demo_vocabulary()


@pytest.fixture(scope="module")
def built(vocabulary: Vocabulary, tmp_path_factory: pytest.TempPathFactory) -> lm.LanguageModel:
    return lm.build(vocabulary, tmp_path_factory.mktemp("stt-cache"))


@pytest.fixture(scope="module")
def arpa(built: lm.LanguageModel) -> Arpa:
    return Arpa(built.arpa.read_text())


def test_numbers_dates_and_times_are_spoken_as_words() -> None:
    assert lm.number_words(0) == "zero"
    assert lm.number_words(45) == "forty five"
    assert lm.number_words(120) == "one hundred twenty"
    assert lm.ordinal_words(3) == "third"
    assert lm.ordinal_words(22) == "twenty second"
    assert lm.ordinal_words(30) == "thirtieth"
    assert lm.year_words(1980) == "nineteen eighty"
    assert lm.year_words(1905) == "nineteen oh five"
    assert lm.year_words(2001) == "two thousand one"
    assert lm.year_words(2026) == "twenty twenty six"
    assert lm.normalize("Dr. Maya Patel, Suite 4 & co") == [
        "doctor", "maya", "patel", "suite", "four", "and", "co",
    ]  # fmt: skip
    assert (
        lm.normalize("ID 2075550100")
        == "id two zero seven five five five zero one zero zero".split()
    )


def test_vocabulary_from_profile_collects_the_clinic_words(vocabulary: Vocabulary) -> None:
    assert vocabulary.providers == ("Dr. Maya Patel", "Dr. Owen Brooks", "Jenna Lee")
    assert {"cleaning", "teeth cleaning", "whitening consultation", "cap"} <= set(
        vocabulary.appointment_types
    )
    assert vocabulary.payers == ("Delta Dental", "Cigna", "Aetna", "MetLife", "Guardian")
    assert ("Samira", "Okafor") in vocabulary.patient_names
    assert "Portland" in vocabulary.places
    again = Vocabulary.from_profile(demo_profile(), reversed(vocabulary.patient_names))
    assert again.fingerprint() == vocabulary.fingerprint()
    more = replace(vocabulary, patient_names=(*vocabulary.patient_names, ("Zelda", "Quist")))
    assert more.fingerprint() != vocabulary.fingerprint()


def test_arpa_is_well_formed(arpa: Arpa) -> None:
    assert arpa.order == 3
    assert arpa.declared == arpa.listed
    assert arpa.prob[("<s>",)] == -99.0
    assert all(p <= 0 for p in arpa.prob.values())
    # Every n-gram that starts a longer one carries a back-off weight.
    for gram in arpa.prob:
        if len(gram) > 1:
            assert gram[:-1] in arpa.backoff, gram
            assert gram[1:] in arpa.prob, gram  # and its suffix exists


@pytest.mark.parametrize(
    "context",
    [(), ("<s>",), ("my", "name"), ("name", "is"), ("doctor",), ("nineteen",), ("zelda",)],
)
def test_every_conditional_distribution_sums_to_one(arpa: Arpa, context: tuple[str, ...]) -> None:
    total = sum(10 ** arpa.log10(word, context) for word in arpa.vocab)
    assert total == pytest.approx(1.0, abs=0.002)


def test_clinic_words_are_in_the_model(arpa: Arpa) -> None:
    words = set(arpa.vocab)
    clinic = "patel brooks jenna maya owen okafor samira fischer nguyen cigna aetna metlife".split()
    general = (
        "cleaning whitening crown toothache swollen fever tuesday march third nineteen".split()
    )
    assert set(clinic + general) <= words
    assert "fisher" not in words  # sounds exactly like the patient "fischer"


def test_in_domain_sentences_outscore_scrambled_ones(arpa: Arpa) -> None:
    for sentence in [
        "i would like to book a cleaning next tuesday afternoon",
        "my name is peter brown",
        "can i see doctor patel on thursday",
    ]:
        scrambled = " ".join(reversed(sentence.split()))
        assert arpa.sentence(sentence) > arpa.sentence(scrambled) + 5


def test_dictionary_covers_the_model_with_valid_phones(built: lm.LanguageModel, arpa: Arpa) -> None:
    entries: dict[str, list[str]] = {}
    for line in built.dictionary.read_text().splitlines():
        word, phones = line.split(" ", 1)
        entries.setdefault(word.split("(")[0], []).append(phones)
        assert set(phones.split()) <= PHONES, line
    assert set(arpa.vocab) - {"</s>"} == set(entries)
    assert built.words == len(entries)
    assert built.guessed > 0  # "okafor", "samira" are not in CMUdict
    assert built.dropped == 0


def test_words_missing_from_cmudict_get_a_pronunciation() -> None:
    lexicon, guessed, dropped = lm.pronunciations(["hello", "okafor", "toothache"])
    assert lexicon["hello"] == lm.cmudict()["hello"]
    assert lexicon["toothache"] == ("T UW TH EY K",)  # tooth + ache
    assert set(lexicon["okafor"][0].split()) <= PHONES
    assert (guessed, dropped) == (2, 0)
    # The last resort when flite's t2p is missing: crude, but valid phones.
    assert lm.naive_pronunciation("brooks") == "B R UW K S"
    assert lm.naive_pronunciation("cecil") == "S EH S IH L"
    assert set(lm.naive_pronunciation("quixotically").split()) <= PHONES


def test_models_are_cached_per_vocabulary_in_a_private_directory(
    vocabulary: Vocabulary, built: lm.LanguageModel
) -> None:
    cache = built.arpa.parent.parent
    mtime = built.arpa.stat().st_mtime_ns
    assert lm.build(vocabulary, cache) == built
    assert built.arpa.stat().st_mtime_ns == mtime  # loaded, not rebuilt
    assert stat.S_IMODE(built.arpa.stat().st_mode) == 0o600
    assert stat.S_IMODE(built.arpa.parent.stat().st_mode) == 0o700
    changed = replace(vocabulary, providers=(*vocabulary.providers, "Dr. Ada Quist"))
    other = lm.build(changed, cache)
    assert other.arpa.parent != built.arpa.parent
    assert "quist" in other.arpa.read_text()


def test_unused_models_are_pruned(vocabulary: Vocabulary, tmp_path_factory) -> None:
    cache = tmp_path_factory.mktemp("prune")
    kept = lm.build(vocabulary, cache)
    old = lm.build(replace(vocabulary, payers=("Humana",)), cache)
    crashed = cache / ".build-x"
    crashed.mkdir()
    month_ago = time.time() - 31 * 86400
    for path in (old.arpa.parent / "meta", crashed):
        os.utime(path, (month_ago, month_ago))
    assert lm.prune(cache) == 2
    assert sorted(p.name for p in cache.iterdir()) == [kept.arpa.parent.name]


def test_pocketsphinx_loads_the_model(built: lm.LanguageModel) -> None:
    decoder = pocketsphinx.Decoder(
        hmm=str(lm.ACOUSTIC_MODEL),
        lm=str(built.arpa),
        dict=str(built.dictionary),
        samprate=16000,
        loglevel="FATAL",
    )
    assert decoder.lookup_word("okafor")
    assert not math.isnan(float(decoder.get_cmn().split(",")[0]))
